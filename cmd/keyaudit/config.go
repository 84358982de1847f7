package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	subcommands = append(subcommands, newConfigCmd)
}

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with keyaudit config files"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate every section of --config against the commands it configures",
		Long: `Check that every key of the --config file is a flag of the command whose
section it is in (or a documented structured setting), that every value parses,
and that the policy and suppressions are well formed — without running
anything. A scheduled job should run it once when its config changes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.configPath == "" {
				return withCode(exitError, errors.New("config check: no --config given"))
			}
			errs := a.config.Check(configSchema())
			for _, err := range errs {
				fmt.Fprintf(a.stderr, "keyaudit: config %s: %v\n", a.configPath, err)
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

// configSchema describes a config file by a fresh command tree: its
// global flags, a section per command and the structured settings.
func configSchema() config.Schema {
	fresh := newRoot(bytes.NewReader(nil), io.Discard, io.Discard)
	return config.Schema{
		Settings: map[string]func(yaml.Node) error{
			"policy":       config.Strict[reconcile.Policy],
			"suppressions": config.CheckSuppressions,
			"watch":        config.Strict[[]string],
			"ct":           config.Strict[ctConfig],
		},
		Globals:    fresh.PersistentFlags(),
		Commands:   config.CommandFlags(fresh),
		Structured: knownSections,
		Sections:   sectionNames,
	}
}
