package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputWritesFile: -o sends what stdout would carry to the file,
// and a command that cannot run leaves no file behind.
func TestOutputWritesFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "checks.jsonl")
	r := runCLI(t, context.Background(), "", "checks", "list", "--format", "jsonl", "-o", out)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("checks list -o: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	want := runCLI(t, context.Background(), "", "checks", "list", "--format", "jsonl")
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.stdout || !strings.Contains(string(got), `"id"`) {
		t.Errorf("file differs from stdout:\n%s\nwant\n%s", got, want.stdout)
	}

	missing := filepath.Join(dir, "runs.txt")
	r = runCLI(t, context.Background(), "", "--store", filepath.Join(dir, "no", "such", "dir", "k.db"), "runs", "-o", missing)
	if r.code != exitError {
		t.Fatalf("runs with an unusable store: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s (%v)", missing, err)
	}
}
