package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/internal/period"
)

// Normalize rewrites the structured settings of f (types maps a
// top-level key to the Go type it decodes into) into the form their
// decoders read, in place:
//
//   - Keys are kebab-case, as the flags are. A key spelled the old way
//     (min_rsa_bits for min-rsa-bits: the field's `was:"min_rsa_bits"`
//     tag names it) is renamed, and a warning naming the new spelling is
//     returned for it; both spellings at once is an error.
//   - Durations accept days, weeks and years (30d, 6w, 2y; period.Parse)
//     beside Go's units, and are rewritten as Go durations.
//
// Maps keep their keys: they are names the user chose. Every problem is
// returned, each prefixed with the path of its key.
func (f File) Normalize(types map[string]reflect.Type) (warnings []string, err error) {
	n := normalizer{}
	for _, key := range f.Keys() {
		t, ok := types[key]
		if !ok {
			continue
		}
		node := f[key]
		n.walk(&node, t, key)
		f[key] = node
	}
	return n.warnings, errors.Join(n.errs...)
}

// normalized returns a normalized copy of node, to decode into a t;
// node is left alone.
func normalized(node yaml.Node, t reflect.Type) (yaml.Node, error) {
	out := clone(&node, 0)
	n := normalizer{}
	n.walk(out, t, "")
	return *out, errors.Join(n.errs...)
}

// maxNodeDepth bounds clone's recursion (yaml.v3 bounds a document's
// nesting far below it).
const maxNodeDepth = 10000

// clone copies node deeply, line numbers included (for the decoder's
// messages).
func clone(node *yaml.Node, depth int) *yaml.Node {
	c := *node
	if depth > maxNodeDepth {
		return &c
	}
	if node.Content != nil {
		c.Content = make([]*yaml.Node, len(node.Content))
		for i, sub := range node.Content {
			c.Content[i] = clone(sub, depth+1)
		}
	}
	return &c
}

type normalizer struct {
	warnings []string
	errs     []error
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

func (n *normalizer) walk(node *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	switch {
	case t == durationType:
		if node.Kind != yaml.ScalarNode || isInteger(node.Value) {
			return // the decoder says what is wrong
		}
		d, err := period.Parse(node.Value)
		if err != nil {
			n.errs = append(n.errs, prefixed(path, err))
			return
		}
		node.Value, node.Tag, node.Style = d.String(), "!!str", 0
	case reflect.PointerTo(t).Implements(unmarshalerType):
		// decodes itself
	case t.Kind() == reflect.Struct && node.Kind == yaml.MappingNode:
		fields, renamed := map[string]reflect.Type{}, map[string]string{}
		structFields(t, fields, renamed)
		present := map[string]bool{}
		for i := 0; i+1 < len(node.Content); i += 2 {
			present[node.Content[i].Value] = true
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			if _, ok := fields[k.Value]; !ok {
				if kebab, ok := renamed[k.Value]; ok {
					if present[kebab] {
						n.errs = append(n.errs, prefixed(path, fmt.Errorf("%s and %s are one setting (%s is its old spelling): keep %s", k.Value, kebab, k.Value, kebab)))
						continue
					}
					n.warnings = append(n.warnings, fmt.Sprintf("%s is deprecated: it is spelled %s now", join(path, k.Value), join(path, kebab)))
					k.Value = kebab
				}
			}
			if ft, ok := fields[k.Value]; ok {
				n.walk(v, ft, join(path, k.Value))
			}
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && node.Kind == yaml.SequenceNode:
		for i, item := range node.Content {
			n.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case t.Kind() == reflect.Map && node.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			n.walk(node.Content[i+1], t.Elem(), join(path, node.Content[i].Value))
		}
	}
}

// structFields maps the YAML keys of struct t to their types, as
// yaml.v3 names them (inline structs flattened), and the old spellings
// of its keys (a field's `was` tag, comma-separated) to the keys.
func structFields(t reflect.Type, out map[string]reflect.Type, renamed map[string]string) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				structFields(ft, out, renamed)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out[name] = sf.Type
		for old := range strings.SplitSeq(sf.Tag.Get("was"), ",") {
			if old != "" {
				renamed[old] = name
			}
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func prefixed(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

func isInteger(s string) bool {
	s = strings.TrimPrefix(strings.TrimSpace(s), "-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// periodValue is a duration flag that also reads days, weeks and years
// (period.Parse).
type periodValue struct{ pflag.Value }

func (v periodValue) Set(s string) error {
	d, err := period.Parse(s)
	if err != nil {
		return err
	}
	return v.Value.Set(d.String())
}

// PeriodFlags makes every duration flag of fs accept days, weeks and
// years (30d, 6w, 2y) beside Go's units, on the command line and in the
// config alike.
func PeriodFlags(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if _, done := f.Value.(periodValue); !done && f.Value.Type() == "duration" {
			f.Value = periodValue{f.Value}
		}
	})
}
