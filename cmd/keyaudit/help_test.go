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
