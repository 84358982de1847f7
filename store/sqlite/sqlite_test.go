package sqlite

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/storetest"
)

func TestSuite(t *testing.T) {
	paths := map[store.Store]string{}
	open := func(t *testing.T, p string) store.Store {
		s, err := Open(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		paths[s] = p
		return s
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "k.db"))
	}, storetest.Again(func(t *testing.T, s store.Store) store.Store {
		return open(t, paths[s]) // another handle on the same file
	}), storetest.Tamper(func(t *testing.T, s store.Store, id int64, actor string) {
		// What someone with the file and sqlite3 can do: drop the
		// trigger, edit, put the trigger back.
		db := s.(*Store).db
		for _, q := range []string{
			`DROP TRIGGER audit_no_update`,
			`UPDATE audit SET actor = '` + actor + `' WHERE id = ` + strconv.FormatInt(id, 10),
			`CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("tamper: %s: %v", q, err)
			}
		}
	}))
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "sub", "k.db")
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, p) // migrations are idempotent
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetRun(ctx, r.ID)
	if err != nil || got.Status != store.StatusRunning {
		t.Fatalf("after reopen: %+v, %v (an unfinished run must stay incomplete)", got, err)
	}
}

func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "a", Action: "x", Target: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM audit`); err == nil {
		t.Fatal("audit rows could be deleted")
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE audit SET actor = 'mallory'`); err == nil {
		t.Fatal("audit rows could be updated")
	}
}
