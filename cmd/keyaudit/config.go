package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/notify"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/stage"
)

func init() {
	subcommands = append(subcommands, newConfigCmd)
}

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with keyaudit config files",
		Example: `  keyaudit config check --config keyaudit.yaml`}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate every section of --config against the commands it configures",
		Long: `Check that every key of the --config file is a flag of the command whose
section it is in (or a documented structured setting), that every value passes
the checks its command runs before it starts (files it names, such as PIN files
and log lists, are not read), and that the policy and suppressions are well
formed — without running anything. Run it once when the config changes.`,
		Example: `  keyaudit config check --config keyaudit.yaml
  keyaudit config check --config deploy/keyaudit.yaml --strict`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.configPath == "" {
				return withCode(exitError, errors.New("config check: no --config given"))
			}
			fresh := &app{stdin: bytes.NewReader(nil), stdout: io.Discard, stderr: io.Discard, config: a.config, configPath: a.configPath, log: a.log}
			errs := a.config.Check(configSchema(newRoot(fresh)))
			for _, err := range errs {
				fmt.Fprintf(a.stderr, "keyaudit: config %s: %v\n", a.configPath, err)
			}
			if _, _, err := a.notifyConfig(); err != nil { // owners and routes, checked together
				fmt.Fprintf(a.stderr, "keyaudit: %v\n", errors.Unwrap(err))
				errs = append(errs, err)
			}
			if len(errs) > 0 {
				return withCode(exitError, nil)
			}
			fmt.Fprintf(a.stdout, "%s: ok (%d sections)\n", a.configPath, len(a.config))
			return nil
		},
	})
	return cmd
}

// settingTypes are what the config's structured settings decode into,
// for config.File.Normalize (kebab-case keys, durations in days).
var settingTypes = map[string]reflect.Type{
	"policy":       reflect.TypeFor[reconcile.Policy](),
	"suppressions": reflect.TypeFor[[]reconcile.Suppression](),
	"ct":           reflect.TypeFor[ctConfig](),
	"revoke":       reflect.TypeFor[stage.RevokeConfig](),
	"trust":        reflect.TypeFor[stage.TrustSection](),
	"acme":         reflect.TypeFor[stage.ACMESection](),
	"owners":       reflect.TypeFor[[]notify.Owner](),
	"notify":       reflect.TypeFor[notify.Config](),
}

// configSchema describes the config file of the command tree root, each
// command section checked by its command's PreRunE.
func configSchema(root *cobra.Command) config.Schema {
	return config.SchemaOf(root, map[string]func(yaml.Node) error{
		"policy":       config.CheckPolicy,
		"suppressions": config.CheckSuppressions,
		"watch":        config.Strict[[]string],
		"ct":           config.Strict[ctConfig],
		"revoke":       config.Strict[stage.RevokeConfig],
		"trust":        config.Strict[stage.TrustSection],
		"acme":         config.Strict[stage.ACMESection],
		"owners":       config.Strict[[]notify.Owner],
		"notify":       config.Strict[notify.Config],
	}, knownSections)
}
