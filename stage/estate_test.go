package stage

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/scanner/caa"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

type fakeRun struct {
	kind   string
	status store.RunStatus
	items  []store.Item
}

func item(t *testing.T, kind, key string, v any) store.Item {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return store.Item{Kind: kind, Key: key, Data: b}
}

func estateOf(t *testing.T, now time.Time, runs ...fakeRun) *reconcile.Snapshot {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, r := range runs {
		run, err := st.BeginRun(ctx, store.RunSpec{Kind: r.kind, Holder: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, run.ID, r.items...); err != nil {
			t.Fatal(err)
		}
		if r.status != store.StatusRunning {
			if err := st.FinishRun(ctx, run.ID, r.status, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	s, err := LoadEstate(ctx, st, EstateOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEstateInventoryCTCAA(t *testing.T) {
	now := time.Now()
	src := "pkcs11:token=hsm1"
	key := func(ref, spki string) store.Item {
		return item(t, store.KindKey, src+"|"+ref, inventory.Key{Source: "pkcs11", Token: "hsm1", Label: ref, Ref: ref, SPKISHA256: spki, Class: inventory.ClassPrivateKey})
	}
	status := func(st inventory.Status, msg string) store.Item {
		return item(t, store.KindSourceStatus, src, inventory.Result{Source: src, Status: st, Error: msg})
	}
	sg := ctlog.Sighting{Log: "https://ct.example/log", LogID: "L", Index: 4, CertSHA256: "c4", SPKISHA256: "s4", Names: []string{"shop.example.test"}, NotAfter: now.Add(24 * time.Hour)}
	expired := ctlog.Sighting{Log: "https://ct.example/log", LogID: "L", Index: 5, CertSHA256: "c5", NotAfter: now.Add(-time.Hour)}
	good := caa.Result{Name: "example.test", RelevantName: "example.test", Permits: &caa.Permits{CAs: []string{"letsencrypt.org"}}}
	bad := caa.Result{Name: "example.test", Error: &caa.Error{Kind: "servfail", Message: "SERVFAIL"}}

	s := estateOf(t, now,
		fakeRun{"inventory", store.StatusComplete, []store.Item{status(inventory.StatusComplete, ""), key("a", "sa"), key("b", "sb")}},
		fakeRun{"inventory", store.StatusComplete, []store.Item{status(inventory.StatusComplete, ""), key("a", "sa")}},
		fakeRun{"inventory", store.StatusFailed, []store.Item{status(inventory.StatusFailed, "C_Login: token removed")}},
		// A sync killed after it committed: its sightings count.
		fakeRun{"ct", store.StatusRunning, []store.Item{item(t, store.KindSighting, sg.ItemKey(), sg), item(t, store.KindSighting, expired.ItemKey(), expired)}},
		fakeRun{"ct", store.StatusComplete, []store.Item{item(t, store.KindLogStatus, "https://ct.example/log", records.LogStatus{Log: "https://ct.example/log", Status: records.LogMisbehaviour, Message: "bad STH signature"})}},
		fakeRun{"ct", store.StatusComplete, nil}, // found nothing new: changes nothing
		fakeRun{"caa", store.StatusComplete, []store.Item{item(t, store.KindCAA, "example.test", good)}},
		fakeRun{"caa", store.StatusComplete, []store.Item{item(t, store.KindCAA, "example.test", bad)}},
	)
	if len(s.Keys) != 1 || s.Keys[0].Label != "a" {
		t.Errorf("keys %+v: want the latest complete read (a)", s.Keys)
	}
	if len(s.Disappeared) != 1 || s.Disappeared[0].Key.Label != "b" || s.Disappeared[0].LastRun != 1 || s.Disappeared[0].Run != 2 {
		t.Errorf("disappeared %+v: want b, listed in run 1, gone in run 2", s.Disappeared)
	}
	partial := false
	for _, so := range s.Sources {
		if so.Kind == "inventory" && so.Status == "partial" && strings.Contains(so.Note, "keeping its complete read of run 2") {
			partial = true
		}
	}
	if !partial {
		t.Errorf("no partial inventory source kept from run 2: %+v", s.Sources)
	}
	if len(s.Sightings) != 1 || s.Sightings[0].Index != 4 {
		t.Errorf("sightings %+v: want index 4 only (5 expired)", s.Sightings)
	}
	if _, ok := s.Departed["c5"]; !ok {
		t.Error("the expired sighting's departure is not explained")
	}
	if len(s.LogIssues) != 1 || s.LogIssues[0].Kind != records.LogMisbehaviour {
		t.Errorf("log issues %+v", s.LogIssues)
	}
	r, ok := s.CAAFor("example.test")
	if !ok || r.Error != nil || len(s.CAA) != 2 {
		t.Errorf("CAA: decision %+v ok %v (of %d results): the failed lookup must not erase it", r, ok, len(s.CAA))
	}
	res := reconcile.Run(s, reconcile.Options{Checks: []string{"caa-lookup-failed", "key-disappeared", "ct-log-misbehaviour", "incomplete-input"}})
	got := map[string]int{}
	for _, f := range res.Findings {
		got[f.Check]++
	}
	for _, c := range []string{"caa-lookup-failed", "key-disappeared", "ct-log-misbehaviour", "incomplete-input"} {
		if got[c] != 1 {
			t.Errorf("%s: %d findings, want 1 (%v)", c, got[c], got)
		}
	}
}

func TestEstateEmpty(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := LoadEstate(ctx, st, EstateOptions{}); err != ErrEmptyEstate {
		t.Fatalf("err = %v, want ErrEmptyEstate", err)
	}
}

// TestEstateUnreadLogIsAGapNotMisbehaviour: a log that could not be read
// (down, not a CT log, the wrong origin) makes the CT input partial and
// raises incomplete-input; only a log that broke a promise is a critical
// ct-log-misbehaviour.
func TestEstateUnreadLogIsAGapNotMisbehaviour(t *testing.T) {
	now := time.Now()
	st := func(log, status, kind, msg string) store.Item {
		return item(t, store.KindLogStatus, log, records.LogStatus{Log: log, Status: status, Kind: kind, Message: msg})
	}
	s := estateOf(t, now,
		fakeRun{"ct", store.StatusComplete, []store.Item{
			st("https://notalog.example/", records.LogUnreachable, "config", "no checkpoint: not a CT log"),
			st("https://lying.example/", records.LogMisbehaviour, "suspected-rollback", "head moved backwards"),
			st("https://fine.example/", records.LogOK, "", ""),
		}},
	)
	if len(s.LogIssues) != 1 || s.LogIssues[0].Log != "https://lying.example/" {
		t.Fatalf("log issues %+v: want only the lying log", s.LogIssues)
	}
	var ct *reconcile.SourceStatus
	for i := range s.Sources {
		if s.Sources[i].Kind == "ct" {
			ct = &s.Sources[i]
		}
	}
	if ct == nil || ct.Status != "partial" || !strings.Contains(ct.Note, "https://notalog.example/ (config: no checkpoint") {
		t.Fatalf("ct source %+v: want partial, naming the unread log and why", ct)
	}
	res := reconcile.Run(s, reconcile.Options{Checks: []string{"ct-log-misbehaviour", "incomplete-input"}})
	got := map[string][]string{}
	for _, f := range res.Findings {
		got[f.Check] = append(got[f.Check], f.Subject)
	}
	if len(got["ct-log-misbehaviour"]) != 1 || got["ct-log-misbehaviour"][0] != "https://lying.example/" || len(got["incomplete-input"]) != 1 {
		t.Fatalf("findings %v", got)
	}
}

// TestEstateCertDERAllForms: the estate finds the DER of live CT-seen
// certificates whichever way the run kept it — in the sighting item's
// der column (now), as base64 inside the sighting's JSON (briefly in
// 2026-12) or in a certificate item of its own (earlier) — so a store
// written by all three versions loses no certificate.
func TestEstateCertDERAllForms(t *testing.T) {
	now := time.Now()
	sg := func(i uint64, cert string, der []byte) records.Sighting {
		return records.Sighting{Log: "https://ct.example/log", LogID: "L", Index: i, CertSHA256: cert, SPKISHA256: "s" + cert,
			Names: []string{cert + ".example.test"}, NotAfter: now.Add(24 * time.Hour), DER: der}
	}
	newer, err := records.SightingItems([]records.Sighting{sg(1, "c1", []byte("DER one")), sg(3, "c3", nil)})
	if err != nil {
		t.Fatal(err)
	}
	old := sg(2, "c2", nil)
	legacy := []store.Item{item(t, store.KindSighting, old.ItemKey(), old),
		item(t, store.KindCertificate, "c2", map[string][]byte{"der": []byte("DER two")})}
	// Written between the two changes: the DER inside the sighting's JSON.
	mid := sg(4, "c4", nil)
	midData, err := mid.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	midData = append(midData[:len(midData)-1], `,"der":"REVSIGZvdXI="}`...) // "DER four"
	between := []store.Item{{Kind: store.KindSighting, Key: mid.ItemKey(), CertSHA256: "c4", SPKISHA256: "sc4", Data: midData}}
	s := estateOf(t, now, fakeRun{"ct", store.StatusComplete, legacy}, fakeRun{"ct", store.StatusComplete, between},
		fakeRun{"ct", store.StatusComplete, newer})
	if len(s.Sightings) != 4 {
		t.Fatalf("sightings %+v", s.Sightings)
	}
	for _, x := range s.Sightings {
		if x.DER != nil {
			t.Errorf("sighting %d decoded with its DER: the estate reads DER only for CertDER", x.Index)
		}
	}
	if string(s.CertDER["c1"]) != "DER one" || string(s.CertDER["c2"]) != "DER two" || string(s.CertDER["c4"]) != "DER four" || len(s.CertDER) != 3 {
		t.Errorf("CertDER %q: want c1 from the sighting's column, c2 from the certificate item, c4 from the sighting's JSON, none for c3", s.CertDER)
	}
}
