package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

// app is what every subcommand shares: streams, global flags, config.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	configPath string
	storeURL   string
	noStore    bool
	verbose    bool

	// config is the parsed --config file (nil without one).
	config map[string]yaml.Node
	log    *slog.Logger
}

// subcommands registers constructors of top-level commands; each
// command file appends to it from init().
var subcommands []func(*app) *cobra.Command

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "keyaudit",
		Short: "Audit cryptographic keys and certificates across their lifecycle",
		Long: `keyaudit finds the certificates and keys an organisation really has — served on
its network (TLS and STARTTLS scans) and issued for its names (Certificate
Transparency) — and holds them against what its HSM/KMS inventory says exists.

Exit codes: 0 ran and found nothing at or above --fail-on; 1 ran and found
findings at or above it; 2 could not run.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd)
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "YAML config file; its keys mirror the flags (top level: global flags; one section per command)")
	pf.StringVar(&a.storeURL, "store", "", "store: a SQLite file path (default $XDG_STATE_HOME/keyaudit/keyaudit.db) or postgres://… (a password belongs in $KEYAUDIT_STORE, not argv)")
	pf.BoolVar(&a.noStore, "no-store", false, "run without reading or writing the store")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log progress details to stderr")
	for _, mk := range subcommands {
		root.AddCommand(mk(a))
	}
	// Flag errors are usage errors: exit 2.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(exitError, fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	return root
}

// setup loads the config and applies it to flags the user did not set.
func (a *app) setup(cmd *cobra.Command) error {
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelDebug
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	if a.configPath == "" {
		return nil
	}
	b, err := os.ReadFile(a.configPath)
	if err != nil {
		return withCode(exitError, fmt.Errorf("config: %w", err))
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return withCode(exitError, fmt.Errorf("config %s: %w", a.configPath, err))
	}
	a.config = cfg
	if commandSection(cmd) == "config-check" {
		return nil // it reports every problem itself
	}
	// Global keys apply to persistent flags, the command's section to
	// its own flags. Flags given on the command line win.
	if err := applyConfig(cmd.Root().PersistentFlags(), cfg, nil); err != nil {
		return withCode(exitError, fmt.Errorf("config %s: %w", a.configPath, err))
	}
	section := commandSection(cmd)
	if node, ok := cfg[section]; ok && node.Kind == yaml.MappingNode {
		sub := map[string]yaml.Node{}
		if err := node.Decode(&sub); err != nil {
			return withCode(exitError, fmt.Errorf("config %s: section %s: %w", a.configPath, section, err))
		}
		if err := applyConfig(cmd.Flags(), sub, knownSections[section]); err != nil {
			return withCode(exitError, fmt.Errorf("config %s: section %s: %w", a.configPath, section, err))
		}
	}
	return nil
}

// knownSections lists, per command section, config keys that are not
// flags but structured settings the command decodes itself.
var knownSections = map[string]map[string]bool{}

// commandSection names the config section of cmd: "scan", "ct-sync" …
func commandSection(cmd *cobra.Command) string {
	var parts []string
	for c := cmd; c != nil && c.HasParent(); c = c.Parent() {
		parts = append([]string{c.Name()}, parts...)
	}
	return strings.Join(parts, "-")
}

func parseConfig(b []byte) (map[string]yaml.Node, error) {
	cfg := map[string]yaml.Node{}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// applyConfig sets flags from config values, skipping flags already set
// on the command line. Unknown keys are an error (typos must not pass
// silently), except structured sections the command reads itself.
func applyConfig(fs *pflag.FlagSet, cfg map[string]yaml.Node, structured map[string]bool) error {
	for key, node := range cfg {
		f := fs.Lookup(key)
		if f == nil {
			if structured[key] || isSectionName(key) || fs == nil {
				continue
			}
			return fmt.Errorf("unknown key %q", key)
		}
		if f.Changed {
			continue
		}
		var values []string
		switch node.Kind {
		case yaml.ScalarNode:
			values = []string{node.Value}
		case yaml.SequenceNode:
			for _, n := range node.Content {
				if n.Kind != yaml.ScalarNode {
					return fmt.Errorf("key %q: list items must be scalars", key)
				}
				values = append(values, n.Value)
			}
		default:
			return fmt.Errorf("key %q: want a value or a list", key)
		}
		if _, isSlice := f.Value.(pflag.SliceValue); !isSlice && len(values) > 1 {
			if err := fs.Set(key, strings.Join(values, ",")); err != nil {
				return fmt.Errorf("key %q: %w", key, err)
			}
			continue
		}
		for _, v := range values {
			if err := fs.Set(key, v); err != nil {
				return fmt.Errorf("key %q: %w", key, err)
			}
		}
	}
	return nil
}

// sectionNames are top-level config keys that belong to commands or to
// structured settings, not to global flags.
var sectionNames = map[string]bool{
	"scan": true, "inventory": true, "caa": true, "ct-sync": true, "ct-watch": true, "ct": true,
	"reconcile": true, "report": true, "audit": true, "policy": true, "watch": true, "revoke": true,
}

func isSectionName(k string) bool { return sectionNames[k] }

// section decodes a top-level config section (nil config: no-op).
func (a *app) section(name string, v any) error {
	node, ok := a.config[name]
	if !ok {
		return nil
	}
	if err := node.Decode(v); err != nil {
		return withCode(exitError, fmt.Errorf("config %s: %s: %w", a.configPath, name, err))
	}
	return nil
}

// defaultStorePath is $XDG_STATE_HOME/keyaudit/keyaudit.db.
func defaultStorePath() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("store: no XDG_STATE_HOME and no home directory: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "keyaudit", "keyaudit.db"), nil
}

// openStore opens the configured store for writing (creating it when
// missing, and saying so), or returns nil with --no-store. Failure to
// open is exit 2.
func (a *app) openStore(ctx context.Context) (store.Store, error) {
	return a.open(ctx, false)
}

// openStoreRO opens the configured store for a command that only reads:
// it never creates one (a missing path is exit 2) and opens a read-only
// file or mount read-only.
func (a *app) openStoreRO(ctx context.Context) (store.Store, error) {
	return a.open(ctx, true)
}

func (a *app) open(ctx context.Context, readOnly bool) (store.Store, error) {
	if a.noStore {
		return nil, nil
	}
	url := a.storeURL
	if url == "" {
		url = os.Getenv("KEYAUDIT_STORE")
	}
	if url == "" {
		p, err := defaultStorePath()
		if err != nil {
			return nil, withCode(exitError, err)
		}
		url = p
	}
	s, err := openStoreURL(ctx, url, readOnly, a.stderr)
	if err != nil {
		return nil, withCode(exitError, err)
	}
	if !readOnly {
		// Runs whose holder died are marked abandoned by whoever looks next.
		if _, err := s.AbandonStale(ctx, store.Lease()); err != nil {
			s.Close()
			return nil, withCode(exitError, err)
		}
	}
	return store.Leased(s), nil
}

// storeOpeners lets other backends register a URL scheme.
var storeOpeners = map[string]func(ctx context.Context, url string) (store.Store, error){}

func openStoreURL(ctx context.Context, url string, readOnly bool, stderr io.Writer) (store.Store, error) {
	if i := strings.Index(url, "://"); i > 0 {
		if open, ok := storeOpeners[url[:i]]; ok {
			return open(ctx, url)
		}
		if url[:i] != "file" && url[:i] != "sqlite" {
			return nil, fmt.Errorf("store %q: unsupported scheme %q", redactURL(url), url[:i])
		}
		url = url[i+3:]
	}
	if readOnly {
		s, err := sqlite.OpenReadOnly(ctx, url)
		if errors.Is(err, store.ErrNoStore) {
			return nil, fmt.Errorf("no store at %s (check --store or KEYAUDIT_STORE; a store is created only by a command that writes, such as keyaudit audit or scan)", url)
		}
		return s, err
	}
	if _, err := os.Stat(url); errors.Is(err, os.ErrNotExist) && stderr != nil {
		fmt.Fprintf(stderr, "keyaudit: creating a new store at %s\n", url)
	}
	return sqlite.Open(ctx, url)
}

// redactURL hides a password in a store URL.
func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	s := strings.Index(u, "://")
	if at < 0 || s < 0 || at < s {
		return u
	}
	cred := u[s+3 : at]
	if c := strings.Index(cred, ":"); c >= 0 {
		return u[:s+3] + cred[:c] + ":***" + u[at:]
	}
	return u
}
