package main

import (
	"context"
	"path/filepath"
	"testing"
)

func TestRunsBadInputMessages(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--store", db, "runs", "--status", "complete,nope"}, `--status "nope": want running, complete, partial, interrupted, failed or abandoned`},
		{[]string{"--store", db, "runs", "--limit", "-1"}, "--limit must not be negative"},
		{[]string{"--no-store", "runs"}, "runs lists the store: it cannot run with --no-store"},
	} {
		r := runCLI(t, context.Background(), "", tt.args...)
		if r.code != 2 || r.stdout != "" || r.stderr != "keyaudit: "+tt.want+"\n" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %q", tt.args, r.code, r.stdout, r.stderr, tt.want)
		}
	}
}
