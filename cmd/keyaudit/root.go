package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/internal/storeopen"
	"github.com/keyaudit/keyaudit/store"
)

// app is what every subcommand shares: streams, global flags, config.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	configPath string
	storeURL   string
	noStore    bool
	verbose    bool
	strict     bool

	// config is the parsed --config file (nil without one).
	config config.File
	// sections are the config's top-level keys that are no global flags.
	sections map[string]bool
	log      *slog.Logger
}

// subcommands registers constructors of top-level commands; each
// command file appends to it from init().
var subcommands []func(*app) *cobra.Command

// newRoot builds the command tree of a's commands.
func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "keyaudit",
		Short: "Audit cryptographic keys and certificates across their lifecycle",
		Long: `keyaudit finds the certificates and keys an organisation really has — served on
its network (TLS and STARTTLS scans) and issued for its names (Certificate
Transparency) — and holds them against what its HSM/KMS inventory says exists.

Exit codes: 0 ran and found nothing at or above --fail-on; 1 ran and found
findings at or above it; 2 could not run.`,
		Example: `  keyaudit audit --config keyaudit.yaml
  keyaudit scan --no-store example.com:443
  keyaudit report --format html -o audit.html
  keyaudit config check --config keyaudit.yaml`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd)
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "YAML config file; its keys mirror the flags (top level: global flags; one section per command)")
	pf.StringVar(&a.storeURL, "store", "", "store: a SQLite file path (default $XDG_STATE_HOME/keyaudit/keyaudit.db) or postgres://… (a password belongs in $KEYAUDIT_STORE, not argv)")
	pf.BoolVar(&a.noStore, "no-store", false, "run without reading or writing the store")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log progress details to stderr")
	pf.BoolVar(&a.strict, "strict", false, "refuse a PIN, password or key file its group or others may read (default: warn)")
	for _, mk := range subcommands {
		root.AddCommand(mk(a))
	}
	addOutputFlags(a, root)
	periodFlags(root)
	// Flag errors are usage errors: exit 2.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(exitError, fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	a.sections = configSchema(root).Sections()
	return root
}

// setup loads the config and applies it to flags the user did not set.
func (a *app) setup(cmd *cobra.Command) error {
	defer func() { // once the config is applied: its verbose: counts too
		level := slog.LevelWarn
		if a.verbose {
			level = slog.LevelDebug
		}
		a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	}()
	if a.configPath == "" {
		return nil
	}
	cfg, err := config.Load(a.configPath)
	if err != nil {
		return withCode(exitError, err)
	}
	warnings, err := cfg.Normalize(settingTypes)
	warnings = append(warnings, ctLogsElsewhere(cfg)...)
	for _, w := range warnings {
		fmt.Fprintf(a.stderr, "keyaudit: warning: config %s: %s\n", a.configPath, w)
	}
	if err != nil {
		return a.configError(err)
	}
	a.config = cfg
	if config.SectionName(cmd) == "config-check" {
		return nil // it reports every problem itself
	}
	// Global keys apply to persistent flags, the command's section to
	// its own flags. Flags given on the command line win; for the store,
	// then $KEYAUDIT_STORE, then the config.
	envStore := !cmd.Root().PersistentFlags().Changed("store") && os.Getenv("KEYAUDIT_STORE") != ""
	if err := a.configError(config.ApplyFlags(cmd.Root().PersistentFlags(), cfg, a.sections)); err != nil {
		return err
	}
	if envStore {
		a.storeURL = ""
	}
	return a.applySection(cmd.Flags(), config.SectionName(cmd))
}

// periodFlags lets every duration flag under c read days, weeks and
// years (30d, 6w, 2y).
func periodFlags(c *cobra.Command) {
	config.PeriodFlags(c.PersistentFlags())
	config.PeriodFlags(c.Flags())
	for _, sub := range c.Commands() {
		periodFlags(sub)
	}
}

// configError marks an error of the config with its file, exit 2.
func (a *app) configError(err error) error {
	if err == nil {
		return nil
	}
	return withCode(exitError, fmt.Errorf("config %s: %w", a.configPath, err))
}

// knownSections lists, per command section, config keys that are not
// flags but structured settings the command decodes itself.
var knownSections = map[string]map[string]bool{}

// section decodes a top-level config section (nil config: no-op).
func (a *app) section(name string, v any) error {
	return a.configError(a.config.Section(name, v))
}

// openStore opens the configured store for writing (creating it when
// missing, and saying so), or returns nil with --no-store. Failure to
// open is exit 2.
func (a *app) openStore(ctx context.Context) (store.Store, error) {
	return a.open(ctx, false)
}

// secrets is what to do with a secret file others may read: warn on
// stderr, or refuse it with --strict.
func (a *app) secrets() secretfile.Policy {
	return secretfile.Policy{Strict: a.strict, Warn: func(err error) { fmt.Fprintf(a.stderr, "keyaudit: warning: %v\n", err) }}
}

// needStore opens the store, read-only when readOnly, for a command that
// cannot run without one: with --no-store it is exit 2, what saying why.
func (a *app) needStore(ctx context.Context, what string, readOnly bool) (store.Store, error) {
	if a.noStore {
		return nil, withCode(exitError, fmt.Errorf("%s: it cannot run with --no-store", what))
	}
	return a.open(ctx, readOnly)
}

func (a *app) open(ctx context.Context, readOnly bool) (store.Store, error) {
	if a.noStore {
		return nil, nil
	}
	url, err := config.StoreURL(a.storeURL)
	if err == nil {
		a.log.Debug("store", "url", storeopen.Redact(url), "read_only", readOnly)
		var s store.Store
		if s, err = storeopen.Open(ctx, url, storeopen.Options{ReadOnly: readOnly, Notice: a.stderr}); err == nil {
			return s, nil
		}
	}
	return nil, withCode(exitError, err)
}
