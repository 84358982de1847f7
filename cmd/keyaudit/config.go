package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

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
			errs := a.checkConfig()
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

// strictDecode decodes node into v, rejecting unknown fields.
func strictDecode(node yaml.Node, v any) error {
	b, err := yaml.Marshal(&node)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// checkConfig validates the loaded config against a fresh command tree.
func (a *app) checkConfig() []error {
	fresh := newRoot(bytes.NewReader(nil), io.Discard, io.Discard)
	sections := map[string]*cobra.Command{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			sections[commandSection(sub)] = sub
			walk(sub)
		}
	}
	walk(fresh)
	keys := make([]string, 0, len(a.config))
	for k := range a.config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, key := range keys {
		node := a.config[key]
		var err error
		switch key {
		case "policy":
			var p reconcile.Policy
			err = strictDecode(node, &p)
		case "suppressions":
			var s []reconcile.Suppression
			if err = strictDecode(node, &s); err == nil {
				for i, x := range s {
					if x.Reason == "" {
						err = fmt.Errorf("suppression %d (%s) has no reason", i+1, x.Check)
					} else if _, ok := reconcile.Lookup(x.Check); x.Check != "" && !ok {
						err = fmt.Errorf("suppression %d names unknown check %q", i+1, x.Check)
					}
				}
			}
		case "watch":
			var w []string
			err = strictDecode(node, &w)
		case "ct":
			var cc ctConfig
			err = strictDecode(node, &cc)
		default:
			if f := fresh.PersistentFlags().Lookup(key); f != nil {
				err = applyConfig(fresh.PersistentFlags(), map[string]yaml.Node{key: node}, nil)
				break
			}
			c, ok := sections[key]
			if !ok {
				err = errors.New("unknown section (see keyaudit --help for commands)")
				break
			}
			sub := map[string]yaml.Node{}
			if err = node.Decode(&sub); err == nil {
				err = applyConfig(c.Flags(), sub, knownSections[key])
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	return errs
}
