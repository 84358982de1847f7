package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/inventory/files"
	"github.com/keyaudit/keyaudit/inventory/pkcs11"
	"github.com/keyaudit/keyaudit/reports"
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
	f := cmd.Flags()
	f.StringArrayVar(&o.pkcs11, "pkcs11", nil, "PKCS#11 URI of the token(s) to list (repeatable)")
	f.StringArrayVar(&o.paths, "path", nil, "file or directory of certificates, keys, PKCS#12, JWK sets or cloud-KMS exports (repeatable)")
	f.StringVar(&o.format, "format", "table", "output format: "+strings.Join(reports.StreamFormats, ", "))
	f.StringVar(&o.module, "pkcs11-module", "", "PKCS#11 library for URIs without module-path (default $KEYAUDIT_PKCS11_MODULE)")
	f.StringVar(&o.passwordFile, "pkcs12-password-file", "", "file holding the password of PKCS#12 files (default $"+pkcs12PasswordEnv+")")
	f.StringVar(&o.group, "run-group", "", "group name recorded with the run")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
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
	name     string
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

func (a *app) runInventory(ctx context.Context, o *inventoryOptions) error {
	sec, err := a.readInventorySection()
	if err != nil {
		return withCode(exitError, err)
	}
	rules, err := sec.Metadata.Compile()
	if err != nil {
		return withCode(exitError, fmt.Errorf("inventory.%w", err))
	}
	module := o.module
	if module == "" {
		module = os.Getenv("KEYAUDIT_PKCS11_MODULE")
	}
	defaultPassword := os.Getenv(pkcs12PasswordEnv)
	if o.passwordFile != "" {
		if defaultPassword, err = readSecretFile(o.passwordFile); err != nil {
			return withCode(exitError, fmt.Errorf("--pkcs12-password-file: %w", err))
		}
	}

	// Secrets read below; scrubbed from anything printed.
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
		planned = append(planned, plannedSource{name: u.String(), defaults: sc, open: func(ctx context.Context) (inventory.Source, error) {
			return pkcs11.Open(ctx, pkcs11.Config{URI: u, Module: mod, PIN: pin, Log: a.log})
		}})
		return nil
	}
	addFiles := func(paths []string, sc inventorySourceConfig) error {
		pw := defaultPassword
		switch {
		case sc.PasswordFile != "":
			if pw, err = readSecretFile(sc.PasswordFile); err != nil {
				return fmt.Errorf("inventory source password-file: %w", err)
			}
		case sc.PasswordEnv != "":
			pw = os.Getenv(sc.PasswordEnv)
		}
		if pw != "" {
			secrets = append(secrets, pw)
		}
		planned = append(planned, plannedSource{name: "files:" + strings.Join(paths, ","), defaults: sc, open: func(ctx context.Context) (inventory.Source, error) {
			return files.Open(ctx, files.Config{Paths: paths, Password: pw, Kind: sc.Kind, Log: a.log})
		}})
		return nil
	}
	for _, raw := range o.pkcs11 {
		if err := addPKCS11(raw, inventorySourceConfig{}); err != nil {
			return withCode(exitError, fmt.Errorf("--pkcs11: %w", err))
		}
	}
	if len(o.paths) > 0 {
		if err := addFiles(o.paths, inventorySourceConfig{}); err != nil {
			return withCode(exitError, err)
		}
	}
	for i, sc := range sec.Sources {
		paths := sc.Paths
		if sc.Path != "" {
			paths = append([]string{sc.Path}, paths...)
		}
		if sc.Cryptoperiod != "" {
			if _, err := inventory.ParsePeriod(sc.Cryptoperiod); err != nil {
				return withCode(exitError, fmt.Errorf("inventory.sources[%d]: %w", i, err))
			}
		}
		switch {
		case sc.PKCS11 != "" && len(paths) > 0:
			return withCode(exitError, fmt.Errorf("inventory.sources[%d]: give pkcs11 or path, not both", i))
		case sc.PKCS11 != "":
			if err := addPKCS11(sc.PKCS11, sc); err != nil {
				return withCode(exitError, fmt.Errorf("inventory.sources[%d]: %w", i, err))
			}
		case len(paths) > 0:
			if err := addFiles(paths, sc); err != nil {
				return withCode(exitError, fmt.Errorf("inventory.sources[%d]: %w", i, err))
			}
		default:
			return withCode(exitError, fmt.Errorf("inventory.sources[%d]: needs pkcs11 or path", i))
		}
	}
	if len(planned) == 0 {
		return withCode(exitError, errors.New("inventory: no sources: give --pkcs11 URI, --path FILE|DIR, or inventory.sources in the config"))
	}
	scrub := func(err error) error {
		if err == nil {
			return nil
		}
		msg := err.Error()
		for _, s := range secrets {
			if len(s) >= 4 {
				msg = strings.ReplaceAll(msg, s, "***")
			}
		}
		// One line: a multi-line error (errors.Join) shows its first.
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] + " (and more)"
		}
		if msg == err.Error() {
			return err
		}
		return errors.New(msg)
	}

	out, err := reports.NewStream(a.stdout, o.format, inventoryColumns)
	if o.format == reports.FormatCSV {
		out, err = reports.NewStream(a.stdout, o.format, inventoryCSVColumns)
	}
	if err != nil {
		return withCode(exitError, err)
	}

	// Open every source before recording anything: bad input stops here.
	sources := make([]inventory.Source, 0, len(planned))
	defer func() {
		for _, s := range sources {
			s.Close()
		}
	}()
	for _, p := range planned {
		s, err := p.open(ctx)
		if err != nil {
			return withCode(exitError, scrub(err))
		}
		sources = append(sources, s)
	}

	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	var run store.Run
	var batch *store.Batcher
	if st != nil {
		defer st.Close()
		names := make([]string, len(sources))
		for i, s := range sources {
			names[i] = s.Name()
		}
		run, err = st.BeginRun(ctx, store.RunSpec{Kind: "inventory", Group: o.group, Meta: map[string]any{"sources": names}})
		if err != nil {
			return withCode(exitError, err)
		}
		batch = store.NewBatcher(ctx, st, run.ID, 500, time.Second)
	}

	prog := newProgress(a.stderr, "inventory")
	var results []inventory.Result
	var writeErr error
	for i, src := range sources {
		if ctx.Err() != nil {
			break
		}
		defaults := planned[i].defaults
		res := src.Keys(ctx, func(k inventory.Key) error {
			if k.Owner == "" {
				k.Owner = defaults.Owner
			}
			if k.Purpose == "" {
				k.Purpose = defaults.Purpose
			}
			if k.Cryptoperiod == "" {
				k.Cryptoperiod = defaults.Cryptoperiod
			}
			rules.Apply(&k)
			prog.inc()
			if batch != nil {
				it := store.Item{Kind: store.KindKey, Key: k.Ref, SPKISHA256: k.SPKISHA256, CertSHA256: k.CertSHA256}
				if err := marshalInto(&it, k); err != nil {
					return err
				}
				if err := batch.Add(it); err != nil {
					writeErr = err
					return err
				}
			}
			if err := out.Write(k); err != nil {
				writeErr = err
				return err
			}
			return nil
		})
		if res.Err != nil {
			res.Error = scrub(res.Err).Error()
		}
		for j, w := range res.Warnings {
			res.Warnings[j] = scrub(errors.New(w)).Error()
			a.log.Debug("inventory: warning", "source", res.Source, "warning", res.Warnings[j])
		}
		results = append(results, res)
		if writeErr != nil {
			break
		}
	}
	prog.done()
	closeErr := out.Close()

	// The run's status: complete only when every source was listed whole.
	status, incomplete := store.StatusComplete, 0
	total := 0
	var notes []string
	for _, r := range results {
		total += r.Keys
		if r.Status != inventory.StatusComplete {
			incomplete++
			notes = append(notes, fmt.Sprintf("%s %s: %s", r.Source, r.Status, r.Error))
			fmt.Fprintf(a.stderr, "keyaudit: inventory: %s is %s: %s\n", r.Source, r.Status, r.Error)
		}
	}
	switch {
	case ctx.Err() != nil:
		status = store.StatusInterrupted
	case writeErr != nil:
		status = store.StatusFailed
	case incomplete > 0 && incomplete == len(results) && total == 0:
		status = store.StatusFailed
	case incomplete > 0:
		status = store.StatusPartial
	}
	sort.Strings(notes)
	note := fmt.Sprintf("%d keys from %d sources", total, len(results))
	if len(notes) > 0 {
		note += "; " + strings.Join(notes, "; ")
	}
	if st != nil {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, r := range results {
			if r.Status == inventory.StatusComplete {
				continue
			}
			it := store.Item{Kind: store.KindSourceError, Key: r.Source}
			if err := marshalInto(&it, r); err == nil {
				_ = batch.Add(it)
			}
		}
		if err := batch.Flush(); err != nil {
			return withCode(exitError, fmt.Errorf("store: %w", err))
		}
		if err := st.FinishRun(fctx, run.ID, status, note); err != nil {
			return withCode(exitError, err)
		}
		a.log.Info("inventory recorded", "run", run.ID, "status", status)
	}
	switch {
	case ctx.Err() != nil:
		return withCode(exitError, fmt.Errorf("inventory interrupted: %w", ctx.Err()))
	case writeErr != nil:
		return withCode(exitError, scrub(writeErr))
	case closeErr != nil:
		return withCode(exitError, closeErr)
	case incomplete > 0:
		return withCode(exitError, nil) // the sources' lines are printed above
	}
	return nil
}
