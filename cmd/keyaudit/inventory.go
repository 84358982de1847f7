package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/inventory/plan"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
)

// inventoryOptions are the flags of keyaudit inventory: the sources to
// plan, then how to print and record the run.
type inventoryOptions struct {
	plan.Config
	format string
	group  string
}

func init() {
	knownSections["inventory"] = map[string]bool{"sources": true, "metadata": true}
	subcommands = append(subcommands, newInventoryCmd)
}

func newInventoryCmd(a *app) *cobra.Command {
	o := &inventoryOptions{}
	cmd := &cobra.Command{
		Use:   "inventory [flags]",
		Short: "List the keys and certificates of HSMs (PKCS#11), files and cloud-KMS exports",
		Long:  help("inventory"),
		Example: `  keyaudit inventory --pkcs11 'pkcs11:token=hsm1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/hsm1.pin'
  keyaudit inventory --format jsonl --no-store --path ./kms-exports --path bundle.p12
  keyaudit inventory --config keyaudit.yaml --format csv > inventory.csv`,
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error { return a.checkInventory(o) },
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
	f.StringArrayVar(&o.PKCS11, "pkcs11", nil, "PKCS#11 URI of the token(s) to list (repeatable)")
	f.StringArrayVar(&o.Paths, "path", nil, "file or directory of certificates, keys, PKCS#12, JWK sets or cloud-KMS exports (repeatable)")
	f.StringVar(&o.format, "format", "table", "output format: "+strings.Join(reports.StreamFormats, ", "))
	f.StringVar(&o.Module, "pkcs11-module", "", "PKCS#11 library for URIs without module-path (default $"+plan.ModuleEnv+")")
	f.StringVar(&o.PasswordFile, "pkcs12-password-file", "", "file holding the password of PKCS#12 files (default $"+plan.PasswordEnv+")")
	f.StringVar(&o.group, "run-group", "", "group name recorded with the run")
}

// readInventorySection decodes the config's inventory.sources and
// inventory.metadata (unknown keys refused).
func (a *app) readInventorySection() (plan.Section, error) {
	node, ok := a.config["inventory"]
	if !ok {
		return plan.Section{}, nil
	}
	sec, err := plan.DecodeSection(&node)
	if err != nil {
		return sec, fmt.Errorf("config %s: %w", a.configPath, err)
	}
	return sec, nil
}

// checkInventory validates o and the config's inventory section as
// inventoryParams does before it reads a secret or opens a source.
func (a *app) checkInventory(o *inventoryOptions) error {
	cfg := o.Config
	sec, err := a.readInventorySection()
	if cfg.Section = sec; err == nil {
		err = cfg.Check()
	}
	return cmp.Or(invalid(err), checkFormat(o.format))
}

// runInventory lists the keys of the sources of o and the config.
func (a *app) runInventory(ctx context.Context, o *inventoryOptions) error {
	out, err := reports.NewStream(a.stdout, o.format, reports.KeyColumns)
	if o.format == reports.FormatCSV {
		out, err = reports.NewStream(a.stdout, o.format, reports.KeyCSVColumns)
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
	err = runStage(ctx, a, out, func(env stage.Env, emit func(inventory.Key) error) error {
		var err error
		res, err = stage.Inventory(ctx, env, p, emit)
		return err
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
	cfg := o.Config
	var err error
	if cfg.Section, err = a.readInventorySection(); err != nil {
		return stage.InventoryParams{}, none, withCode(exitError, err)
	}
	cfg.Log, cfg.Secrets = a.log, a.secrets()
	pl, err := plan.New(cfg)
	if err != nil {
		return stage.InventoryParams{}, none, withCode(exitError, err)
	}
	srcs, err := pl.Open(ctx) // bad input stops here, before anything is recorded
	if err != nil {
		return stage.InventoryParams{}, none, withCode(exitError, err)
	}
	p := stage.InventoryParams{Sources: srcs, Rules: pl.Rules, Scrub: pl.Scrub, Group: o.group}
	return p, func() { inventory.CloseAll(srcs) }, nil
}
