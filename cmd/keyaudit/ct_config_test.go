package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCTLogsHaveOneHome: the logs to follow belong in ct:; a CT command's
// section naming them still works, with a warning saying where they go.
func TestCTLogsHaveOneHome(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "keyaudit.yaml")
	os.WriteFile(cfg, []byte("ct-sync:\n  log-list: /nonexistent/log_list.json\n  state: [usable]\nct:\n  states: [usable]\n"), 0o600)
	r := runCLI(t, context.Background(), "", "--config", cfg, "config", "check")
	for _, want := range []string{"ct-sync.log-list: set ct.log-list instead", "ct-sync.state: set ct.states instead"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("config check: no warning %q in %q", want, r.stderr)
		}
	}
	os.WriteFile(cfg, []byte("ct:\n  log-list: /nonexistent/log_list.json\n  states: [usable]\n"), 0o600)
	if r := runCLI(t, context.Background(), "", "--config", cfg, "config", "check"); strings.Contains(r.stderr, "warning") || r.code != 0 {
		t.Errorf("ct: alone: exit %d, %q", r.code, r.stderr)
	}
}
