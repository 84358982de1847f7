package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// File is a parsed config file: its top-level keys and their values. A
// nil File is an empty config.
type File map[string]yaml.Node

// Parse parses a config file's contents.
func Parse(b []byte) (File, error) {
	f := File{}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return f, nil
}

// Load reads and parses the config file at path. Its errors start with
// "config" and name the file.
func Load(path string) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}

// Has reports whether the file has the top-level key name.
func (f File) Has(name string) bool {
	_, ok := f[name]
	return ok
}

// Keys returns the top-level keys, sorted.
func (f File) Keys() []string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Section decodes the top-level key name into v; a missing key leaves v
// alone. Unknown fields are ignored (see StrictDecode). Errors are
// prefixed with name.
func (f File) Section(name string, v any) error {
	node, ok := f[name]
	if !ok {
		return nil
	}
	node, err := normalized(node, reflect.TypeOf(v))
	if err == nil {
		err = node.Decode(v)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// ApplySection sets the flags of fs from the section name, as
// ApplyFlags does. A missing section, or one that is not a mapping, sets
// nothing. Errors are prefixed with "section name".
func (f File) ApplySection(fs *pflag.FlagSet, name string, skip ...map[string]bool) error {
	node, ok := f[name]
	if !ok || node.Kind != yaml.MappingNode {
		return nil
	}
	sub := map[string]yaml.Node{}
	err := node.Decode(&sub)
	if err == nil {
		err = ApplyFlags(fs, sub, skip...)
	}
	if err != nil {
		return fmt.Errorf("section %s: %w", name, err)
	}
	return nil
}

// ApplyFlags sets the flags of fs from values (flag name → value),
// skipping flags already set on the command line. A value is a scalar or
// a list of scalars; a list sets a slice flag once per item and any other
// flag to its items joined by commas. A key that is no flag of fs is an
// error unless one of the skip sets holds it (a structured setting the
// command decodes itself, or another section).
func ApplyFlags(fs *pflag.FlagSet, values map[string]yaml.Node, skip ...map[string]bool) error {
	keys := File(values).Keys()
	for _, key := range keys {
		node := values[key]
		f := fs.Lookup(key)
		if f == nil {
			if slices.ContainsFunc(skip, func(s map[string]bool) bool { return s[key] }) {
				continue
			}
			return fmt.Errorf("unknown key %q", key)
		}
		if f.Changed {
			continue
		}
		var vals []string
		switch node.Kind {
		case yaml.ScalarNode:
			vals = []string{node.Value}
		case yaml.SequenceNode:
			for _, n := range node.Content {
				if n.Kind != yaml.ScalarNode {
					return fmt.Errorf("key %q: list items must be scalars", key)
				}
				vals = append(vals, n.Value)
			}
		default:
			return fmt.Errorf("key %q: want a value or a list", key)
		}
		if _, isSlice := f.Value.(pflag.SliceValue); !isSlice && len(vals) > 1 {
			vals = []string{strings.Join(vals, ",")}
		}
		for _, v := range vals {
			if err := fs.Set(key, v); err != nil {
				return fmt.Errorf("key %q: %w", key, err)
			}
		}
	}
	return nil
}

// StrictDecode decodes node into v, rejecting unknown fields. Keys and
// durations are read as Normalize rewrites them (the old spelling of a
// key is accepted).
func StrictDecode(node yaml.Node, v any) error {
	node, err := normalized(node, reflect.TypeOf(v))
	if err != nil {
		return err
	}
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

// Strict is a Schema setting validator: node must decode into a T with
// no unknown fields.
func Strict[T any](node yaml.Node) error {
	var v T
	return StrictDecode(node, &v)
}

// DefaultStorePath is $XDG_STATE_HOME/keyaudit/keyaudit.db, or
// ~/.local/state/keyaudit/keyaudit.db without XDG_STATE_HOME.
func DefaultStorePath() (string, error) {
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

// StoreURL is the store to open: flag when given, else $KEYAUDIT_STORE,
// else DefaultStorePath.
func StoreURL(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if env := os.Getenv("KEYAUDIT_STORE"); env != "" {
		return env, nil
	}
	return DefaultStorePath()
}
