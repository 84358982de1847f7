package stage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/inventory/files"
	"github.com/keyaudit/keyaudit/inventory/pkcs11"
	"github.com/keyaudit/keyaudit/store"
)

// stagePIN is distinctive so a leak is unambiguous.
const stagePIN = "58204719"

// hsmSource opens the SoftHSM token label of h.
func hsmSource(t *testing.T, h *testlab.SoftHSM, label, pin string) inventory.Source {
	t.Helper()
	u, err := pkcs11uri.Parse("pkcs11:token=" + label)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pkcs11.Open(context.Background(), pkcs11.Config{URI: u, Module: h.Module, PIN: pin})
	if err != nil {
		t.Fatalf("open token %s: %v", label, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fileSource opens a files source on paths.
func fileSource(t *testing.T, paths ...string) inventory.Source {
	t.Helper()
	s, err := files.Open(context.Background(), files.Config{Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// copyFile copies testdata/inventory/name into dir.
func copyFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "inventory", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sourceStatuses returns run's source statuses by item key.
func sourceStatuses(t *testing.T, st store.Store, runID int64) map[string]inventory.Result {
	t.Helper()
	out := map[string]inventory.Result{}
	for key, it := range itemsOf(t, st, runID, store.KindSourceStatus) {
		var r inventory.Result
		if err := json.Unmarshal(it.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Source != key {
			t.Errorf("source status keyed %q names source %q", key, r.Source)
		}
		out[key] = r
	}
	return out
}

// itemsOf returns run's items of kind by item key.
func itemsOf(t *testing.T, st store.Store, runID int64, kind string) map[string]store.Item {
	t.Helper()
	out := map[string]store.Item{}
	err := st.Items(context.Background(), runID, kind, func(it store.Item) error {
		out[it.Key] = it
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInventoryRecordsEverySourceStatus(t *testing.T) {
	ctx := context.Background()
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("stage", stagePIN)
	tk.GenKeyPair("EC:prime256v1", "api", "02")
	tk.GenSecret("AES:32", "kek", "03", "--sensitive")
	dir := t.TempDir()
	pemFile := copyFile(t, dir, "ec-p256-public.pem")
	doomed := copyFile(t, dir, "rsa2048-cert.pem")

	st := tempStore(t)
	var stderr bytes.Buffer
	env := Env{Store: st, Stderr: &stderr}
	rules, err := inventory.Rules{{Label: "api", Purpose: "api-signing"}}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	// params opens the sources (the token, the two files) for one read.
	params := func() InventoryParams {
		return InventoryParams{
			Sources: []inventory.Opened{
				{Source: hsmSource(t, h, "stage", stagePIN), Defaults: inventory.Defaults{Owner: "hsm-team"}},
				{Source: fileSource(t, pemFile), Defaults: inventory.Defaults{Owner: "files-team"}},
				{Source: fileSource(t, doomed)},
			},
			Rules: rules,
			Scrub: func(s string) string { return strings.ReplaceAll(s, dir, "<dir>") },
			Group: "inv",
		}
	}

	// A complete read: every source has a complete status, every key is
	// keyed by its source's name.
	var emitted []inventory.Key
	p := params()
	out, err := Inventory(ctx, env, p, func(k inventory.Key) error { emitted = append(emitted, k); return nil })
	if err != nil {
		t.Fatal(err)
	}
	run := finishedRun(t, st, out, store.StatusComplete)
	if run.Kind != "inventory" || run.Group != "inv" {
		t.Errorf("run %+v", run)
	}
	statuses := sourceStatuses(t, st, out.RunID)
	if len(statuses) != 3 {
		t.Fatalf("source statuses %+v, want one per source", statuses)
	}
	for _, s := range p.Sources {
		r, ok := statuses[s.Source.Name()]
		if !ok || r.Status != inventory.StatusComplete || r.Keys == 0 {
			t.Errorf("source %s: status %+v", s.Source.Name(), r)
		}
	}
	keys := itemsOf(t, st, out.RunID, store.KindKey)
	if len(keys) != len(emitted) || len(keys) == 0 {
		t.Fatalf("%d key items, %d keys emitted", len(keys), len(emitted))
	}
	for _, k := range emitted {
		src := p.Sources[0].Source.Name()
		if k.Source != "pkcs11" {
			src = "files:" + k.Path
		}
		if _, ok := keys[src+"|"+k.Ref]; !ok {
			t.Errorf("no key item %q", src+"|"+k.Ref)
		}
		switch {
		case k.Label == "api" && (k.Owner != "hsm-team" || k.Purpose != "api-signing"):
			t.Errorf("api key: owner %q purpose %q, want the source's default and the rule's", k.Owner, k.Purpose)
		case k.Path == pemFile && k.Owner != "files-team":
			t.Errorf("file key: owner %q", k.Owner)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr of a complete read: %q", stderr.String())
	}

	// A source that fails: its file is gone once it was opened. The run
	// is partial, the source's status says failed (scrubbed), the others'
	// complete.
	p = params()
	if err := os.Remove(doomed); err != nil {
		t.Fatal(err)
	}
	out2, err := Inventory(ctx, env, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	finishedRun(t, st, out2, store.StatusPartial)
	statuses = sourceStatuses(t, st, out2.RunID)
	failed := statuses[p.Sources[2].Source.Name()]
	if len(statuses) != 3 || failed.Status != inventory.StatusFailed || failed.Error == "" || strings.Contains(failed.Error, dir) {
		t.Fatalf("statuses %+v; want the missing file's source failed, its error scrubbed", statuses)
	}
	if r := statuses[p.Sources[0].Source.Name()]; r.Status != inventory.StatusComplete {
		t.Errorf("token status %+v", r)
	}
	if !strings.Contains(stderr.String(), "is failed") || strings.Contains(stderr.String(), stagePIN) {
		t.Errorf("stderr %q: want the failed source reported", stderr.String())
	}

	// The estate keeps the failed source's keys from its complete read:
	// each key item names its source.
	snap, err := LoadEstate(ctx, st, EstateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Keys) != len(keys) {
		t.Errorf("estate after a failed source holds %d keys, want %d", len(snap.Keys), len(keys))
	}

	// Another complete read writes a fresh set: its own statuses and keys.
	copyFile(t, dir, "rsa2048-cert.pem")
	out3, err := Inventory(ctx, env, params(), nil)
	if err != nil {
		t.Fatal(err)
	}
	finishedRun(t, st, out3, store.StatusComplete)
	if s := sourceStatuses(t, st, out3.RunID); len(s) != 3 {
		t.Errorf("third read: %d statuses", len(s))
	}
	if k := itemsOf(t, st, out3.RunID, store.KindKey); len(k) != len(keys) {
		t.Errorf("third read: %d keys, first %d", len(k), len(keys))
	}

	// The estate takes each source's keys from its latest complete read.
	snap, err = LoadEstate(ctx, st, EstateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Keys) != len(keys) {
		t.Errorf("estate holds %d keys, want %d", len(snap.Keys), len(keys))
	}
}

func TestInventoryWithoutStoreAndCancelled(t *testing.T) {
	dir := t.TempDir()
	src := fileSource(t, copyFile(t, dir, "ec-p256-public.pem"))
	n := 0
	out, err := Inventory(context.Background(), Env{}, InventoryParams{Sources: []inventory.Opened{{Source: src}}},
		func(inventory.Key) error { n++; return nil })
	if err != nil || out.RunID != 0 || out.Status != store.StatusComplete || n == 0 {
		t.Fatalf("without a store: %+v, %v, %d keys", out, err, n)
	}

	// Cancelled while listing: interrupted, what was read stays.
	st := tempStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, err = Inventory(ctx, Env{Store: st}, InventoryParams{Sources: []inventory.Opened{{Source: src}}},
		func(inventory.Key) error { cancel(); return nil })
	if err == nil {
		t.Fatal("a cancelled inventory returned no error")
	}
	finishedRun(t, st, out, store.StatusInterrupted)
	if len(itemsOf(t, st, out.RunID, store.KindKey)) == 0 {
		t.Error("the keys read before the cancel were not kept")
	}

	if _, err := Inventory(context.Background(), Env{Store: st}, InventoryParams{}, nil); err == nil {
		t.Error("an inventory without sources ran")
	}
}

// TestInventoryErrorScrubbed: the error Inventory returns passes through
// p.Scrub, as its notes and statuses do.
func TestInventoryErrorScrubbed(t *testing.T) {
	src := fileSource(t, copyFile(t, t.TempDir(), "ec-p256-public.pem"))
	p := InventoryParams{Sources: []inventory.Opened{{Source: src}}, Scrub: inventory.Scrubber([]string{stagePIN})}
	out, err := Inventory(context.Background(), Env{Store: tempStore(t)}, p,
		func(inventory.Key) error { return errors.New("write refused for pin " + stagePIN) })
	if err == nil || strings.Contains(err.Error(), stagePIN) || !strings.Contains(err.Error(), "pin ***") {
		t.Errorf("Inventory error %v, want it scrubbed", err)
	}
	if out.Status != store.StatusFailed || strings.Contains(out.Note, stagePIN) {
		t.Errorf("outcome %+v", out)
	}
}
