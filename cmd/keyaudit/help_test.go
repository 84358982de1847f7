package main

import (
	"bytes"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestHelpTexts: every help/*.txt file is some command's long help, and
// no command's help is empty where a file was meant.
func TestHelpTexts(t *testing.T) {
	root := newRoot(&app{stdin: bytes.NewReader(nil), stdout: io.Discard, stderr: io.Discard})
	used := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name := range helpNames() {
			if c.Long == help(name) {
				used[name] = true
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for name := range helpNames() {
		if !used[name] {
			t.Errorf("help/%s.txt is no command's long help", name)
		}
	}
}

func helpNames() map[string]bool {
	out := map[string]bool{}
	entries, _ := fs.ReadDir(helpFS, "help")
	for _, e := range entries {
		out[strings.TrimSuffix(e.Name(), ".txt")] = true
	}
	return out
}

// TestHelpExamples: every command's --help shows at least one example,
// and each example runs keyaudit with that command.
func TestHelpExamples(t *testing.T) {
	root := newRoot(&app{stdin: bytes.NewReader(nil), stdout: io.Discard, stderr: io.Discard})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: no Example in its --help", c.CommandPath())
		}
		for _, line := range strings.Split(c.Example, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, "keyaudit ") {
				t.Errorf("%s: example %q does not run keyaudit", c.CommandPath(), line)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// TestOutputFlags: every command that prints results in a --format can
// write them to a file with -o/--output.
func TestOutputFlags(t *testing.T) {
	root := newRoot(&app{stdin: bytes.NewReader(nil), stdout: io.Discard, stderr: io.Discard})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Flags().Lookup("format") != nil {
			o := c.Flags().Lookup("output")
			if o == nil || o.Shorthand != "o" {
				t.Errorf("%s: has --format but no -o/--output", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
