package destroy

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/internal/guard"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const hsm = "pkcs11:token=hsm1"

func pairOf(src, label, spki string) []records.Key {
	priv := records.Key{Source: src, Token: "hsm1", TokenSerial: "s1", Label: label, ID: "01", Class: records.ClassPrivateKey, KeyType: "EC", SPKISHA256: spki, Ref: "p/" + label}
	pub := priv
	pub.Class, pub.Ref = records.ClassPublicKey, "q/"+label
	return []records.Key{priv, pub}
}

// estate is a snapshot with a complete scan serving "served", a CT
// sighting of "logged" (valid) and "expired" (expired), and the keys
// given, all from source hsm.
func estate(keys ...[]records.Key) *reconcile.Snapshot {
	s := &reconcile.Snapshot{Now: now, Sources: []reconcile.SourceStatus{{Kind: "scan", RunID: 1, Status: "complete"}}}
	s.Observations = []records.Observation{{Host: "web.example.test", Port: 443, Chain: []certinfo.Cert{{SPKISHA256: "served"}}}}
	s.Sightings = []records.Sighting{{Log: "log1", Index: 7, SPKISHA256: "logged", CertSHA256: "c1", NotAfter: now.AddDate(0, 1, 0)},
		{Log: "log1", Index: 8, SPKISHA256: "expired", CertSHA256: "c2", NotAfter: now.AddDate(0, -1, 0)}}
	for _, ks := range keys {
		for _, k := range ks {
			s.Keys = append(s.Keys, k)
			s.KeySources = append(s.KeySources, hsm)
		}
	}
	return s
}

func opts(o PlanOptions) PlanOptions {
	o.CreatedBy, o.Now = "alice", now
	return o
}

func actionsOf(p *Plan) map[string]string {
	out := map[string]string{}
	for _, a := range p.Actions {
		var gs []string
		for _, g := range a.Grounds {
			gs = append(gs, g.Kind)
		}
		out[a.SPKISHA256] = strings.Join(gs, ",")
	}
	return out
}

func TestBuildNeverProposesAKeyInUse(t *testing.T) {
	s := estate(pairOf("pkcs11", "web", "served"), pairOf("pkcs11", "ct", "logged"), pairOf("pkcs11", "gone", "expired"), pairOf("pkcs11", "idle", "idle"))
	p, err := Build(s, Inputs{}, opts(PlanOptions{Keys: []string{"served", "logged", "expired", "idle"}}))
	if err != nil {
		t.Fatal(err)
	}
	got := actionsOf(p)
	if len(got) != 2 || got["expired"] != "requested" || got["idle"] != "requested" {
		t.Errorf("actions %v", got)
	}
	why := map[string]string{}
	for _, sk := range p.Skipped {
		why[sk.SPKI] = sk.Why
	}
	if !strings.Contains(why["served"], "served on web.example.test:443") || !strings.Contains(why["logged"], "CT-logged certificate") {
		t.Errorf("skipped %v", why)
	}
	for _, a := range p.Actions {
		if len(a.Objects) != 2 || a.Executor != ExecutorPKCS11 || a.Source != hsm {
			t.Errorf("action %+v", a)
		}
	}
	if err := p.Validate(); err != nil || p.Hash != p.ComputeHash() {
		t.Errorf("plan invalid: %v", err)
	}
}

func TestBuildGrounds(t *testing.T) {
	compromised := pairOf("kmip", "burnt", "burnt")
	compromised[0].State = "compromised"
	s := estate(pairOf("pkcs11", "old", "old"), pairOf("pkcs11", "young", "young"), pairOf("pkcs11", "aged", "aged"), compromised,
		[]records.Key{{Source: "file", Path: "/etc/k.pem", Class: records.ClassPrivateKey, SPKISHA256: "file", Ref: "f"}})
	s.KeySources[len(s.KeySources)-1] = "files"
	fs := []reconcile.Finding{
		{Check: "orphaned-key", Subject: "hsm1/old", SPKISHA256: "old", Message: "orphaned"},
		{Check: "orphaned-key", Subject: "hsm1/young", SPKISHA256: "young", Message: "orphaned"},
		{Check: "cryptoperiod-exceeded", Subject: "hsm1/aged", SPKISHA256: "aged", Message: "past"},
		{Check: "orphaned-key", Subject: "/etc/k.pem", SPKISHA256: "file", Message: "orphaned"},
	}
	since := map[string]time.Time{fs[0].Fingerprint(): now.AddDate(0, 0, -120), fs[1].Fingerprint(): now.AddDate(0, 0, -10), fs[3].Fingerprint(): now.AddDate(-1, 0, 0)}
	in := Inputs{Findings: fs, OpenSince: func(fp string) (time.Time, bool) { t, ok := since[fp]; return t, ok }}
	p, err := Build(s, in, opts(PlanOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	got := actionsOf(p)
	if len(got) != 3 || got["old"] != "orphaned" || got["aged"] != "cryptoperiod" || got["burnt"] != "compromised" {
		t.Errorf("actions %v (skipped %+v)", got, p.Skipped)
	}
	for _, a := range p.Actions {
		if a.SPKISHA256 == "burnt" && (a.Executor != ExecutorKMIP || a.Reason != inventory.RevokeKeyCompromise) {
			t.Errorf("compromised KMIP key: %+v", a)
		}
	}
	skipped := ""
	for _, sk := range p.Skipped {
		skipped += sk.Why + "\n"
	}
	if !strings.Contains(skipped, "not yet 90 days") || !strings.Contains(skipped, "does not destroy file keys") {
		t.Errorf("skipped:\n%s", skipped)
	}

	// Only the grounds asked for.
	p, _ = Build(s, in, opts(PlanOptions{Grounds: []string{GroundCryptoperiod}}))
	if got := actionsOf(p); len(got) != 1 || got["aged"] == "" {
		t.Errorf("cryptoperiod only: %v", got)
	}
	// A shorter orphan age admits the young key.
	p, _ = Build(s, in, opts(PlanOptions{Grounds: []string{GroundOrphaned}, OrphanedFor: 7 * 24 * time.Hour}))
	if got := actionsOf(p); len(got) != 2 || got["young"] == "" {
		t.Errorf("7 days: %v", got)
	}
	if _, err := Build(s, in, opts(PlanOptions{Keys: []string{"nope"}})); err == nil {
		t.Error("an unknown --key was accepted")
	}
}

func TestBuildRefusesWithoutCompleteInputs(t *testing.T) {
	for name, mod := range map[string]func(*reconcile.Snapshot){
		"no scan":      func(s *reconcile.Snapshot) { s.Sources = nil },
		"partial scan": func(s *reconcile.Snapshot) { s.Sources[0].Status = "partial" },
		"partial CT": func(s *reconcile.Snapshot) {
			s.Sources = append(s.Sources, reconcile.SourceStatus{Kind: "ct", Status: "partial"})
		},
	} {
		s := estate(pairOf("pkcs11", "idle", "idle"))
		mod(s)
		p, err := Build(s, Inputs{}, opts(PlanOptions{Keys: []string{"idle"}}))
		if err != nil || len(p.Actions) != 0 || len(p.Skipped) != 1 || !strings.Contains(p.Skipped[0].Why, "cannot show") {
			t.Errorf("%s: %+v %v", name, p, err)
		}
	}
}

// TestExecuteRefusals: an unapproved plan, a plan edited after approval
// and a plan whose key became served are refused before any source is
// opened, each refusal recorded.
func TestExecuteRefusals(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := estate(pairOf("pkcs11", "idle", "idle"))
	p, err := Build(s, Inputs{}, opts(PlanOptions{Keys: []string{"idle"}}))
	if err != nil || len(p.Actions) != 1 {
		t.Fatal(p, err)
	}
	if _, err := Record(ctx, st, p); err != nil {
		t.Fatal(err)
	}
	opened := 0
	o := ExecOptions{Apply: true, Actor: "ops", Estate: func(context.Context) (*reconcile.Snapshot, error) { return s, nil },
		Open: func(context.Context, string) (inventory.Source, error) {
			opened++
			return nil, errors.New("no sources in this test")
		}}
	if _, err := Execute(ctx, st, p, o); !errors.Is(err, guard.ErrNotApproved) {
		t.Errorf("unapproved: %v", err)
	}
	if _, err := Approve(ctx, st, p, "alice", p.Hash); err != nil {
		t.Fatal(err)
	}
	edited := *p
	edited.Actions = append([]Action(nil), p.Actions...)
	edited.Actions[0].Objects = edited.Actions[0].Objects[:1]
	if _, err := Execute(ctx, st, &edited, o); !errors.Is(err, guard.ErrHashMismatch) {
		t.Errorf("edited: %v", err)
	}
	edited.Hash = edited.ComputeHash()
	if _, err := Execute(ctx, st, &edited, o); !errors.Is(err, guard.ErrHashMismatch) {
		t.Errorf("edited and re-hashed: %v", err)
	}
	// The key is served now: refused as in use, nothing opened for it.
	s.Observations[0].Chain[0].SPKISHA256 = "idle"
	s.Reindex()
	_, err = Execute(ctx, st, p, o)
	if err == nil || !strings.Contains(err.Error(), "no sources in this test") {
		t.Errorf("sources are opened before anything is done: %v", err)
	}
	o.Open = func(context.Context, string) (inventory.Source, error) { opened++; return destroyerless{}, nil }
	rep, err := Execute(ctx, st, p, o)
	if err == nil || rep == nil || !strings.Contains(err.Error(), "cannot destroy keys") {
		t.Errorf("a source that cannot destroy: %v", err)
	}
	var refusals []string
	Entries(ctx, st, func(e Entry) error {
		if strings.HasSuffix(e.Action, ".refused") {
			refusals = append(refusals, e.D.Why)
		}
		return nil
	})
	if len(refusals) != 5 {
		t.Errorf("refusals recorded: %q", refusals)
	}
	if opened != 2 {
		t.Errorf("sources opened %d times", opened)
	}
}

type destroyerless struct{}

func (destroyerless) Name() string { return hsm }
func (destroyerless) Keys(context.Context, func(inventory.Key) error) inventory.Result {
	return inventory.Result{}
}
func (destroyerless) Close() error { return nil }

func TestReadPlanStrict(t *testing.T) {
	if _, err := ReadPlan(strings.NewReader(`{"version":1,"id":"dp-x","extra":1}`)); err == nil {
		t.Error("unknown field accepted")
	}
	if _, err := ReadPlan(strings.NewReader(`{"version":1} {}`)); err == nil {
		t.Error("trailing data accepted")
	}
}
