package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/keyaudit/keyaudit/store"
)

// testAuditChain: entries are chained as they are appended, also by
// concurrent appenders through separate handles (no fork), the chain
// verifies, and an entry altered directly in the database is named.
func testAuditChain(t *testing.T, s store.Store, o options) {
	ctx := context.Background()
	if n, err := store.VerifyAudit(ctx, s); n != 0 || err != nil {
		t.Fatalf("VerifyAudit(empty) = %d, %v", n, err)
	}
	first, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "alice", Action: "a", Target: "t0"})
	if err != nil {
		t.Fatal(err)
	}
	if first.PrevHash != "" || len(first.Hash) != 64 || first.Hash != store.AuditHash(first) {
		t.Fatalf("first entry = %+v", first)
	}
	handles := []store.Store{s, s, s, s}
	if o.again != nil {
		for i := 1; i < len(handles); i++ {
			handles[i] = o.again(t, s)
		}
	}
	const perWriter = 10
	var wg sync.WaitGroup
	errs := make(chan error, len(handles)*perWriter)
	for w, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if _, err := h.AppendAudit(ctx, store.AuditEntry{Actor: fmt.Sprintf("w%d", w), Action: "x", Target: fmt.Sprint(i), Detail: []byte(`{"i":` + fmt.Sprint(i) + `}`)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := 1 + len(handles)*perWriter
	n, err := store.VerifyAudit(ctx, s)
	if err != nil || n != want {
		t.Fatalf("VerifyAudit = %d, %v; want %d, nil", n, err, want)
	}
	// Read back, each entry is what AppendAudit returned (time, detail
	// and hashes survive the round trip).
	var es []store.AuditEntry
	if err := s.Audit(ctx, func(e store.AuditEntry) error { es = append(es, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if es[0].Hash != first.Hash || !es[0].Time.Equal(first.Time) {
		t.Fatalf("read back %+v, appended %+v", es[0], first)
	}
	for i := 1; i < len(es); i++ {
		if es[i].PrevHash != es[i-1].Hash {
			t.Fatalf("entry #%d prev_hash %s, entry #%d hash %s: the chain forked", es[i].ID, es[i].PrevHash, es[i-1].ID, es[i-1].Hash)
		}
	}
	if o.tamper == nil {
		return
	}
	victim := es[len(es)/2]
	o.tamper(t, s, victim.ID, "mallory")
	n, err = store.VerifyAudit(ctx, s)
	var ce *store.AuditChainError
	if !errors.As(err, &ce) || !errors.Is(err, store.ErrAuditChain) {
		t.Fatalf("VerifyAudit after tampering entry #%d = %d, %v; want an AuditChainError", victim.ID, n, err)
	}
	if ce.ID != victim.ID || n != len(es)/2 {
		t.Fatalf("VerifyAudit names entry #%d after %d good ones (%v); tampered #%d", ce.ID, n, err, victim.ID)
	}
}
