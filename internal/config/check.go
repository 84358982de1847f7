package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Schema is what a config file may hold, for Check; SchemaOf builds it
// from a command tree.
type Schema struct {
	// Settings validate the top-level structured settings by key
	// ("policy", "watch" …); they come before flags and sections.
	Settings map[string]func(yaml.Node) error
	// Globals are the flags top-level keys may set.
	Globals *pflag.FlagSet
	// Commands are the flags of each command section ("scan", "ct-sync" …).
	Commands map[string]*pflag.FlagSet
	// Checks validate a command section's values once they are applied
	// to its flags: the checks the command runs before it starts.
	Checks map[string]func() error
	// Structured lists, per command section, the keys that are no flags
	// but settings the command decodes itself.
	Structured map[string]map[string]bool
}

// SchemaOf describes the config file of the command tree root: its
// persistent flags are the top-level keys, each command's flags (its
// parents' persistent flags included, as when it runs) the keys of its
// section, and each command's PreRunE the check of its section
// (Schema.Checks). settings and structured are as in Schema.
func SchemaOf(root *cobra.Command, settings map[string]func(yaml.Node) error, structured map[string]map[string]bool) Schema {
	s := Schema{Settings: settings, Globals: root.PersistentFlags(), Commands: CommandFlags(root), Checks: map[string]func() error{}, Structured: structured}
	walk(root, func(c *cobra.Command) {
		if pre := c.PreRunE; pre != nil {
			s.Checks[SectionName(c)] = func() error { return pre(c, nil) }
		}
	})
	return s
}

// Sections are the top-level keys that are no global flags: the command
// sections and the settings. A section may hold them too: ApplyFlags
// skips them.
func (s Schema) Sections() map[string]bool {
	out := map[string]bool{}
	for k := range s.Commands {
		out[k] = true
	}
	for k := range s.Settings {
		out[k] = true
	}
	return out
}

// Check validates every top-level key of f against s and returns every
// problem found, in key order, each prefixed with its key. Values are
// applied to s's flag sets, which should be fresh ones; a command
// section whose values all apply is then checked (Schema.Checks).
func (f File) Check(s Schema) []error {
	var errs []error
	sections := s.Sections()
	for _, key := range f.Keys() {
		node := f[key]
		var err error
		if validate, ok := s.Settings[key]; ok {
			err = validate(node)
		} else if s.Globals != nil && s.Globals.Lookup(key) != nil {
			err = ApplyFlags(s.Globals, map[string]yaml.Node{key: node})
		} else if fs, ok := s.Commands[key]; !ok {
			err = errors.New("unknown section (see keyaudit --help for commands)")
		} else {
			sub := map[string]yaml.Node{}
			if err = node.Decode(&sub); err == nil {
				err = ApplyFlags(fs, sub, s.Structured[key], sections)
			}
			if check := s.Checks[key]; err == nil && check != nil {
				err = check()
			}
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				errs = append(errs, fmt.Errorf("%s: %w", key, e))
			}
		} else if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	return errs
}

// SectionName is the config section of cmd: the names of its commands
// below the root joined by "-" ("scan", "ct-sync" …; "" for the root).
func SectionName(cmd *cobra.Command) string {
	var parts []string
	for c := cmd; c != nil && c.HasParent(); c = c.Parent() {
		parts = append([]string{c.Name()}, parts...)
	}
	return strings.Join(parts, "-")
}

// CommandFlags maps the section of every command below root to its
// flags, for Schema.Commands. Each flag set gets the persistent flags of
// the command's parents, as cobra gives them when the command runs.
func CommandFlags(root *cobra.Command) map[string]*pflag.FlagSet {
	out := map[string]*pflag.FlagSet{}
	walk(root, func(c *cobra.Command) {
		c.InheritedFlags() // merges the parents' persistent flags into Flags
		out[SectionName(c)] = c.Flags()
	})
	return out
}

// walk calls fn for every command below root.
func walk(root *cobra.Command, fn func(*cobra.Command)) {
	for _, sub := range root.Commands() {
		fn(sub)
		walk(sub, fn)
	}
}
