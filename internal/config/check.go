package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Schema is what a config file may hold, for Check.
type Schema struct {
	// Settings validate the top-level structured settings by key
	// ("policy", "watch" …); they come before flags and sections.
	Settings map[string]func(yaml.Node) error
	// Globals are the flags top-level keys may set.
	Globals *pflag.FlagSet
	// Commands are the flags of each command section ("scan", "ct-sync" …).
	Commands map[string]*pflag.FlagSet
	// Structured lists, per command section, the keys that are no flags
	// but settings the command decodes itself.
	Structured map[string]map[string]bool
	// Sections are the top-level keys that are sections or settings; a
	// section may hold them too (as ApplyFlags' skip).
	Sections map[string]bool
}

// Check validates every top-level key of f against s and returns every
// problem found, in key order, each prefixed with its key. Values are
// applied to s's flag sets, which should be fresh ones.
func (f File) Check(s Schema) []error {
	var errs []error
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
				err = ApplyFlags(fs, sub, s.Structured[key], s.Sections)
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
// flags, for Schema.Commands.
func CommandFlags(root *cobra.Command) map[string]*pflag.FlagSet {
	out := map[string]*pflag.FlagSet{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			out[SectionName(sub)] = sub.Flags()
			walk(sub)
		}
	}
	walk(root)
	return out
}
