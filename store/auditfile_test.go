package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

func TestAuditHashCanonical(t *testing.T) {
	e := store.AuditEntry{ID: 7, Time: time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600)), Actor: "a", Action: "b", Target: "c", Detail: []byte(`{"k":1}`), PrevHash: "ab"}
	h := store.AuditHash(e)
	// Same entry, other representation of the same instant, same hash.
	e2 := e
	e2.Time = e.Time.UTC().Truncate(time.Microsecond)
	if store.AuditHash(e2) != h {
		t.Fatal("hash depends on the time's zone or sub-microsecond digits")
	}
	// Moving a byte between adjacent fields changes the hash.
	e3 := e
	e3.Actor, e3.Action = "ab", ""
	if store.AuditHash(e3) == h {
		t.Fatal("field boundaries are not part of the encoding")
	}
	c, err := store.ChainEntry("ab", store.AuditEntry{ID: 7, Time: e.Time, Actor: "a", Action: "b", Target: "c", Detail: []byte(`{"k":1}`)})
	if err != nil || c.Hash != h || c.PrevHash != "ab" {
		t.Fatalf("ChainEntry = %+v, %v", c, err)
	}
}

func TestAuditFileMirrorsStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Two entries before the file is configured: copied on first write.
	for _, a := range []string{"one", "two"} {
		if _, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "x", Action: a, Target: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "audit.jsonl")
	f, err := store.OpenAuditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tee := store.WithAuditFile(s, f)
	for _, a := range []string{"three", "four"} {
		if _, err := tee.AppendAudit(ctx, store.AuditEntry{Actor: "x", Action: a, Target: "t", Detail: []byte(`{"a":"` + a + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	// One more without the file, then one with a second writer: caught up.
	if _, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "x", Action: "five", Target: "t"}); err != nil {
		t.Fatal(err)
	}
	f2, _ := store.OpenAuditFile(path)
	if _, err := store.WithAuditFile(s, f2).AppendAudit(ctx, store.AuditEntry{Actor: "x", Action: "six", Target: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tee.AppendAudit(ctx, store.AuditEntry{Actor: "x", Action: "seven", Target: "t"}); err != nil {
		t.Fatal(err)
	}
	n, err := store.VerifyAuditFile(ctx, path, s)
	if err != nil || n != 7 {
		t.Fatalf("VerifyAuditFile = %d, %v; want 7", n, err)
	}
	b, _ := os.ReadFile(path)
	if lines := strings.Count(string(b), "\n"); lines != 7 {
		t.Fatalf("file has %d lines, want 7:\n%s", lines, b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", st.Mode().Perm())
	}

	// An edited line is named.
	bad := bytes.Replace(b, []byte(`"action":"four"`), []byte(`"action":"fore"`), 1)
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = store.VerifyAuditFile(ctx, path, nil)
	var ce *store.AuditChainError
	if !errors.As(err, &ce) || ce.ID != 4 || ce.Line != 4 {
		t.Fatalf("edited file: %v", err)
	}
	// A removed line is named (the next one no longer links).
	lines := strings.SplitAfter(string(b), "\n")
	if err := os.WriteFile(path, []byte(strings.Join(append(lines[:2:2], lines[3:]...), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = store.VerifyAuditFile(ctx, path, nil); !errors.As(err, &ce) || ce.ID != 4 {
		t.Fatalf("file with a line removed: %v", err)
	}
	// The last line removed: the file's own chain still holds, but it no
	// longer ends where the store does.
	if err := os.WriteFile(path, []byte(strings.Join(lines[:6], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = store.VerifyAuditFile(ctx, path, nil); err != nil {
		t.Fatalf("truncated file alone: %v (its own chain is intact)", err)
	}
	if _, err = store.VerifyAuditFile(ctx, path, s); !errors.As(err, &ce) || ce.ID != 7 || !strings.Contains(ce.Reason, "not in the file") {
		t.Fatalf("file without its last line, against the store: %v", err)
	}
}
