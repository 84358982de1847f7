package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/inventory/files"
	"github.com/keyaudit/keyaudit/inventory/pkcs11"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
)

// PKCS12PasswordEnv holds the password of PKCS#12 files when no
// password-file is configured.
const pkcs12PasswordEnv = "KEYAUDIT_PKCS12_PASSWORD"

type inventoryOptions struct {
	pkcs11       []string
	paths        []string
	format       string
	module       string
	passwordFile string
	group        string
}

// inventorySection is the structured part of the config's inventory:
// section (its flag keys — pkcs11, path, format … — are applied as flags).
type inventorySection struct {
	Sources  []inventorySourceConfig `yaml:"sources"`
	Metadata inventory.Rules         `yaml:"metadata"`
}

// inventorySourceConfig is one entry of inventory.sources: a PKCS#11 URI or
// file paths, with defaults for the keys it lists.
type inventorySourceConfig struct {
	PKCS11 string   `yaml:"pkcs11"` // RFC 7512 URI
	Module string   `yaml:"module"` // library when the URI names none
	Path   string   `yaml:"path"`   // a file or directory
	Paths  []string `yaml:"paths"`
	// Kind labels PEM/DER keys of these paths (e.g. gcp-kms).
	Kind string `yaml:"kind"`
	// PKCS#12 password: read from a file or an environment variable.
	PasswordFile string `yaml:"password-file"`
	PasswordEnv  string `yaml:"password-env"`
	// Defaults for every key of the source; metadata rules override them.
	Owner        string `yaml:"owner"`
	Purpose      string `yaml:"purpose"`
	Cryptoperiod string `yaml:"cryptoperiod"`
}

var inventorySourceKeys = map[string]bool{"pkcs11": true, "module": true, "path": true, "paths": true, "kind": true,
	"password-file": true, "password-env": true, "owner": true, "purpose": true, "cryptoperiod": true}

var metadataKeys = map[string]bool{"uri": true, "label": true, "path": true, "owner": true, "purpose": true, "cryptoperiod": true}

func init() {
	knownSections["inventory"] = map[string]bool{"sources": true, "metadata": true}
	subcommands = append(subcommands, newInventoryCmd)
}

func newInventoryCmd(a *app) *cobra.Command {
	o := &inventoryOptions{}
	cmd := &cobra.Command{
		Use:   "inventory [flags]",
		Short: "List the keys and certificates of HSMs (PKCS#11), files and cloud-KMS exports",
		Long: `List what the organisation says it has: every key and certificate object of
PKCS#11 tokens, and the keys in files (PEM, DER, PKCS#12, JWK sets) and in
cloud-KMS exports (aws kms get-public-key JSON, az keyvault key show JSON,
gcloud kms keys versions get-public-key PEM or JSON). Each key is identified
by spki_sha256, the SHA-256 of its SubjectPublicKeyInfo, derived from private
key attributes when the token holds no public object.

Tokens are named by RFC 7512 URIs:
  pkcs11:token=NAME?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/path/pin
The PIN comes from the URI's pin-source file or $KEYAUDIT_PKCS11_PIN, never
from the command line, and is tried once: a wrong PIN is not retried. Sessions
are read-only; key values are never read.

The run is recorded in the store (kind "inventory"). A source that fails part
way makes the run partial and the exit code 2; bad input (unknown token,
missing module, wrong PIN, missing path) exits 2 before anything is recorded.

Config (section inventory:):
  inventory:
    sources:
      - pkcs11: "pkcs11:token=hsm1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/keyaudit/pin"
        owner: pki-team
      - path: /etc/keyaudit/kms-exports
        password-file: /etc/keyaudit/p12-password
    metadata:
      - uri: "pkcs11:token=hsm1;object=web-*"
        owner: web-team
        purpose: tls
        cryptoperiod: 2y
      - label: "backup-*"
        purpose: backup-encryption`,
		Example: `  keyaudit inventory --pkcs11 'pkcs11:token=hsm1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/hsm1.pin'
  keyaudit inventory --format jsonl --no-store --path ./kms-exports --path bundle.p12
  keyaudit inventory --config keyaudit.yaml --format csv > inventory.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runInventory(cmd.Context(), o)
		},
	}
	o.register(cmd.Flags())
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// register defines the flags of keyaudit inventory on f, bound to o.
func (o *inventoryOptions) register(f *pflag.FlagSet) {
	f.StringArrayVar(&o.pkcs11, "pkcs11", nil, "PKCS#11 URI of the token(s) to list (repeatable)")
	f.StringArrayVar(&o.paths, "path", nil, "file or directory of certificates, keys, PKCS#12, JWK sets or cloud-KMS exports (repeatable)")
	f.StringVar(&o.format, "format", "table", "output format: "+strings.Join(reports.StreamFormats, ", "))
	f.StringVar(&o.module, "pkcs11-module", "", "PKCS#11 library for URIs without module-path (default $KEYAUDIT_PKCS11_MODULE)")
	f.StringVar(&o.passwordFile, "pkcs12-password-file", "", "file holding the password of PKCS#12 files (default $"+pkcs12PasswordEnv+")")
	f.StringVar(&o.group, "run-group", "", "group name recorded with the run")
}

// inventoryColumns are the table columns.
var inventoryColumns = []reports.Column[inventory.Key]{
	{Header: "SOURCE", Value: func(k inventory.Key) string { return k.Source }},
	{Header: "TOKEN", Value: func(k inventory.Key) string { return k.Token }},
	{Header: "LABEL", Value: func(k inventory.Key) string { return k.Label }},
	{Header: "ID", Value: func(k inventory.Key) string { return k.ID }},
	{Header: "CLASS", Value: func(k inventory.Key) string { return string(k.Class) }},
	{Header: "KEY", Value: keySummary},
	{Header: "SPKI SHA-256", Value: func(k inventory.Key) string {
		if len(k.SPKISHA256) >= 16 {
			return k.SPKISHA256[:16]
		}
		return "-"
	}},
	{Header: "FLAGS", Value: keyFlags},
	{Header: "USAGE", Value: func(k inventory.Key) string { return strings.Join(k.Usage, ",") }},
	{Header: "END", Value: func(k inventory.Key) string { return dateOf(k.EndDate) }},
	{Header: "OWNER", Value: func(k inventory.Key) string { return k.Owner }},
}

// inventoryCSVColumns carry every field of the output contract.
var inventoryCSVColumns = []reports.Column[inventory.Key]{
	{Header: "source", Value: func(k inventory.Key) string { return k.Source }},
	{Header: "token", Value: func(k inventory.Key) string { return k.Token }},
	{Header: "token_serial", Value: func(k inventory.Key) string { return k.TokenSerial }},
	{Header: "label", Value: func(k inventory.Key) string { return k.Label }},
	{Header: "id", Value: func(k inventory.Key) string { return k.ID }},
	{Header: "class", Value: func(k inventory.Key) string { return string(k.Class) }},
	{Header: "key_type", Value: func(k inventory.Key) string { return k.KeyType }},
	{Header: "key_bits", Value: func(k inventory.Key) string { return strconv.Itoa(k.KeyBits) }},
	{Header: "curve", Value: func(k inventory.Key) string { return k.Curve }},
	{Header: "spki_sha256", Value: func(k inventory.Key) string { return k.SPKISHA256 }},
	{Header: "spki_source", Value: func(k inventory.Key) string { return k.SPKISource }},
	{Header: "sensitive", Value: func(k inventory.Key) string { return tri(k.Sensitive) }},
	{Header: "extractable", Value: func(k inventory.Key) string { return tri(k.Extractable) }},
	{Header: "always_sensitive", Value: func(k inventory.Key) string { return tri(k.AlwaysSensitive) }},
	{Header: "never_extractable", Value: func(k inventory.Key) string { return tri(k.NeverExtractable) }},
	{Header: "local", Value: func(k inventory.Key) string { return tri(k.Local) }},
	{Header: "usage", Value: func(k inventory.Key) string { return strings.Join(k.Usage, " ") }},
	{Header: "start_date", Value: func(k inventory.Key) string { return timeOf(k.StartDate) }},
	{Header: "end_date", Value: func(k inventory.Key) string { return timeOf(k.EndDate) }},
	{Header: "kcv", Value: func(k inventory.Key) string { return k.KCV }},
	{Header: "owner", Value: func(k inventory.Key) string { return k.Owner }},
	{Header: "purpose", Value: func(k inventory.Key) string { return k.Purpose }},
	{Header: "cryptoperiod", Value: func(k inventory.Key) string { return k.Cryptoperiod }},
	{Header: "cert_sha256", Value: func(k inventory.Key) string { return k.CertSHA256 }},
	{Header: "subject", Value: func(k inventory.Key) string { return k.Subject }},
	{Header: "uri", Value: func(k inventory.Key) string { return k.URI }},
	{Header: "path", Value: func(k inventory.Key) string { return k.Path }},
	{Header: "id_mismatch", Value: func(k inventory.Key) string { return strconv.FormatBool(k.IDMismatch) }},
	{Header: "notes", Value: func(k inventory.Key) string { return strings.Join(k.Notes, "; ") }},
	{Header: "ref", Value: func(k inventory.Key) string { return k.Ref }},
}

func keySummary(k inventory.Key) string {
	switch {
	case k.Curve != "" && k.Curve != k.KeyType:
		return k.KeyType + " " + k.Curve
	case k.KeyBits > 0 && k.Curve == "":
		return k.KeyType + " " + strconv.Itoa(k.KeyBits)
	}
	return k.KeyType
}

func keyFlags(k inventory.Key) string {
	var f []string
	if k.Sensitive != nil && *k.Sensitive {
		f = append(f, "sensitive")
	}
	if k.Extractable != nil && *k.Extractable {
		f = append(f, "extractable")
	}
	if k.Local != nil && *k.Local {
		f = append(f, "local")
	}
	if k.IDMismatch {
		f = append(f, "id-mismatch")
	}
	return strings.Join(f, ",")
}

func tri(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

func dateOf(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.DateOnly)
}

func timeOf(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339)
}

// plannedSource is a source to open, with the defaults for its keys.
type plannedSource struct {
	open     func(ctx context.Context) (inventory.Source, error)
	defaults inventorySourceConfig
}

// readInventorySection decodes inventory.sources and inventory.metadata,
// refusing unknown keys (a typo must not silently drop a source).
func (a *app) readInventorySection() (inventorySection, error) {
	var sec inventorySection
	node, ok := a.config["inventory"]
	if !ok {
		return sec, nil
	}
	var raw struct {
		Sources  []map[string]yaml.Node `yaml:"sources"`
		Metadata []map[string]yaml.Node `yaml:"metadata"`
	}
	if err := node.Decode(&raw); err != nil {
		return sec, fmt.Errorf("config %s: inventory: %w", a.configPath, err)
	}
	for i, m := range raw.Sources {
		for k := range m {
			if !inventorySourceKeys[k] {
				return sec, fmt.Errorf("config %s: inventory.sources[%d]: unknown key %q", a.configPath, i, k)
			}
		}
	}
	for i, m := range raw.Metadata {
		for k := range m {
			if !metadataKeys[k] {
				return sec, fmt.Errorf("config %s: inventory.metadata[%d]: unknown key %q", a.configPath, i, k)
			}
		}
	}
	if err := node.Decode(&sec); err != nil {
		return sec, fmt.Errorf("config %s: inventory: %w", a.configPath, err)
	}
	return sec, nil
}

// maxSecretFile bounds a password file.
const maxSecretFile = 4096

// readSecretFile reads a password file (first line, trailing newline cut).
// Errors name the file, never its content.
// At most maxSecretFile+1 bytes are read, so an endless source
// (/dev/zero, a pipe whose writer never stops) is refused, not drained.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s: larger than %d bytes", path, maxSecretFile)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// runInventory lists the keys of the sources of o and the config.
func (a *app) runInventory(ctx context.Context, o *inventoryOptions) error {
	out, err := reports.NewStream(a.stdout, o.format, inventoryColumns)
	if o.format == reports.FormatCSV {
		out, err = reports.NewStream(a.stdout, o.format, inventoryCSVColumns)
	}
	if err != nil {
		return withCode(exitError, err)
	}
	p, closeSources, err := a.inventoryParams(ctx, o)
	if err != nil {
		return err
	}
	defer closeSources()
	var res stage.Outcome
	err = runStage(ctx, a, "inventory", out, func(env stage.Env, emit func(inventory.Key) error) error {
		var err error
		res, err = stage.Inventory(ctx, env, p, emit)
		if err != nil {
			return scrubError(err, p.Scrub)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if res.Status != store.StatusComplete {
		return withCode(exitError, nil) // the stage reported each source on stderr
	}
	return nil
}

// inventoryOptionsFromConfig returns the options `keyaudit inventory`
// would run with from the config alone: the flags' defaults with the
// config's inventory section over them. keyaudit audit passes them to
// inventoryParams.
func (a *app) inventoryOptionsFromConfig() (*inventoryOptions, error) {
	o := &inventoryOptions{}
	fs := pflag.NewFlagSet("inventory", pflag.ContinueOnError)
	o.register(fs)
	if err := a.applySection(fs, "inventory"); err != nil {
		return nil, err
	}
	return o, nil
}

// inventoryParams plans the sources of o and of the config's
// inventory.sources, reads their PINs and passwords, and opens them: bad
// input (a URI or path that names nothing, a wrong PIN, a missing module)
// is exit 2 here, before anything is recorded. It returns the inventory
// stage's parameters and a function closing the sources. The secrets it
// read are scrubbed (Scrub) from every message the stage prints or
// records. keyaudit audit calls it with inventoryOptionsFromConfig.
func (a *app) inventoryParams(ctx context.Context, o *inventoryOptions) (stage.InventoryParams, func(), error) {
	none := func() {}
	sec, err := a.readInventorySection()
	if err != nil {
		return stage.InventoryParams{}, none, withCode(exitError, err)
	}
	rules, err := sec.Metadata.Compile()
	if err != nil {
		return stage.InventoryParams{}, none, withCode(exitError, fmt.Errorf("inventory.%w", err))
	}
	planned, secrets, err := a.planInventory(o, sec)
	if err != nil {
		return stage.InventoryParams{}, none, withCode(exitError, err)
	}
	scrub := secretScrubber(secrets)

	// Open every source before recording anything: bad input stops here.
	p := stage.InventoryParams{Rules: rules, Scrub: scrub, Group: o.group}
	closeAll := func() {
		for _, s := range p.Sources {
			s.Source.Close()
		}
	}
	for _, ps := range planned {
		s, err := ps.open(ctx)
		if err != nil {
			closeAll()
			return stage.InventoryParams{}, none, withCode(exitError, scrubError(err, scrub))
		}
		d := ps.defaults
		p.Sources = append(p.Sources, stage.InventorySource{Source: s, Owner: d.Owner, Purpose: d.Purpose, Cryptoperiod: d.Cryptoperiod})
	}
	return p, closeAll, nil
}

// planInventory lists the sources to open — o's --pkcs11 URIs and
// --path files, then the config's inventory.sources — reading their PINs
// and passwords, which it returns too.
func (a *app) planInventory(o *inventoryOptions, sec inventorySection) ([]plannedSource, []string, error) {
	module := o.module
	if module == "" {
		module = os.Getenv("KEYAUDIT_PKCS11_MODULE")
	}
	defaultPassword := os.Getenv(pkcs12PasswordEnv)
	if o.passwordFile != "" {
		var err error
		if defaultPassword, err = readSecretFile(o.passwordFile); err != nil {
			return nil, nil, fmt.Errorf("--pkcs12-password-file: %w", err)
		}
	}

	var secrets []string
	var planned []plannedSource
	addPKCS11 := func(raw string, sc inventorySourceConfig) error {
		u, err := pkcs11uri.Parse(raw)
		if err != nil {
			return err
		}
		pin, err := pkcs11.ResolvePIN(u, os.Getenv)
		if err != nil {
			return err
		}
		if pin != "" {
			secrets = append(secrets, pin)
		}
		mod := sc.Module
		if mod == "" {
			mod = module
		}
		planned = append(planned, plannedSource{defaults: sc, open: func(ctx context.Context) (inventory.Source, error) {
			return pkcs11.Open(ctx, pkcs11.Config{URI: u, Module: mod, PIN: pin, Log: a.log})
		}})
		return nil
	}
	addFiles := func(paths []string, sc inventorySourceConfig) error {
		pw := defaultPassword
		switch {
		case sc.PasswordFile != "":
			var err error
			if pw, err = readSecretFile(sc.PasswordFile); err != nil {
				return fmt.Errorf("inventory source password-file: %w", err)
			}
		case sc.PasswordEnv != "":
			pw = os.Getenv(sc.PasswordEnv)
		}
		if pw != "" {
			secrets = append(secrets, pw)
		}
		planned = append(planned, plannedSource{defaults: sc, open: func(ctx context.Context) (inventory.Source, error) {
			return files.Open(ctx, files.Config{Paths: paths, Password: pw, Kind: sc.Kind, Log: a.log})
		}})
		return nil
	}
	for _, raw := range o.pkcs11 {
		if err := addPKCS11(raw, inventorySourceConfig{}); err != nil {
			return nil, nil, fmt.Errorf("--pkcs11: %w", err)
		}
	}
	if len(o.paths) > 0 {
		if err := addFiles(o.paths, inventorySourceConfig{}); err != nil {
			return nil, nil, err
		}
	}
	for i, sc := range sec.Sources {
		paths := sc.Paths
		if sc.Path != "" {
			paths = append([]string{sc.Path}, paths...)
		}
		if sc.Cryptoperiod != "" {
			if _, err := inventory.ParsePeriod(sc.Cryptoperiod); err != nil {
				return nil, nil, fmt.Errorf("inventory.sources[%d]: %w", i, err)
			}
		}
		var err error
		switch {
		case sc.PKCS11 != "" && len(paths) > 0:
			err = errors.New("give pkcs11 or path, not both")
		case sc.PKCS11 != "":
			err = addPKCS11(sc.PKCS11, sc)
		case len(paths) > 0:
			err = addFiles(paths, sc)
		default:
			err = errors.New("needs pkcs11 or path")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("inventory.sources[%d]: %w", i, err)
		}
	}
	if len(planned) == 0 {
		return nil, nil, errors.New("inventory: no sources: give --pkcs11 URI, --path FILE|DIR, or inventory.sources in the config")
	}
	return planned, secrets, nil
}

// secretScrubber returns a function replacing each of secrets (those of
// at least 4 characters) in a message with "***" and cutting it to its
// first line: a multi-line error (errors.Join) shows its first.
func secretScrubber(secrets []string) func(string) string {
	return func(msg string) string {
		for _, s := range secrets {
			if len(s) >= 4 {
				msg = strings.ReplaceAll(msg, s, "***")
			}
		}
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] + " (and more)"
		}
		return msg
	}
}

// scrubError returns err with its message scrubbed, or err itself when
// scrubbing changes nothing.
func scrubError(err error, scrub func(string) string) error {
	if err == nil || scrub == nil {
		return err
	}
	if msg := scrub(err.Error()); msg != err.Error() {
		return errors.New(msg)
	}
	return err
}
