package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	_ "github.com/keyaudit/keyaudit/reconcile/checks" // the registry routes are checked against
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func owners() []Owner {
	return []Owner{
		{Name: "web", BusinessUnit: "retail", Contacts: []string{"web@example.test"}, Domains: []string{"example.test"}},
		{Name: "shop", Contacts: []string{"shop@example.test"}, Domains: []string{"shop.example.test"}},
		{Name: "lab", CIDRs: []string{"127.0.9.0/24"}},
		{Name: "pay", Labels: []string{"pay-*"}},
		{Name: "hsm", Sources: []string{"pkcs11:token=vault*"}},
	}
}

func TestAssign(t *testing.T) {
	os := owners()
	if err := CheckOwners(os); err != nil {
		t.Fatal(err)
	}
	s := &reconcile.Snapshot{
		Keys: []records.Key{
			{Label: "web-1", SPKISHA256: "k-meta", Owner: "platform"},
			{Label: "pay-2026", SPKISHA256: "k-pay"},
			{Label: "other", SPKISHA256: "k-vault"},
		},
		KeySources: []string{"pkcs11:token=a", "pkcs11:token=a", "pkcs11:token=vault1"},
	}
	fs := []reconcile.Finding{
		{Check: "unmanaged-key", Subject: "CN=www.example.test", Endpoint: "tls://www.example.test:443"},
		{Check: "unauthorized-issuance", Subject: "shop.example.test"},
		{Check: "unauthorized-issuance", Subject: "api.shop.example.test"},
		{Check: "weak-tls-version", Subject: "CN=x", Endpoint: "tls://127.0.9.4:443"},
		{Check: "weak-tls-version", Subject: "CN=y", Endpoint: "tls://h.other.test:443 (127.0.9.5)"},
		{Check: "orphaned-key", Subject: "a/web-1", SPKISHA256: "k-meta"},
		{Check: "orphaned-key", Subject: "a/pay-2026", SPKISHA256: "k-pay"},
		{Check: "orphaned-key", Subject: "vault1/other", SPKISHA256: "k-vault"},
		{Check: "caa-missing", Subject: "nobody.test"},
	}
	Assign(os, s, fs)
	want := []string{"web", "shop", "shop", "lab", "lab", "platform", "pay", "hsm", ""}
	for i, f := range fs {
		if f.Owner != want[i] {
			t.Errorf("%s %s: owner %q, want %q", f.Check, f.Subject, f.Owner, want[i])
		}
	}
}

func router(t *testing.T, c Config) *Router {
	t.Helper()
	r, err := NewRouter(c, owners())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoutes(t *testing.T) {
	c := Config{Sinks: map[string]Sink{"web-hook": {Webhook: "http://127.0.0.1:1/h"}, "shop-mail": {SMTP: "127.0.0.1:25", From: "keyaudit@example.test"}, "all": {Exec: []string{"/bin/true"}}},
		Routes: []Route{
			{Name: "web", Owners: []string{"web"}, Sinks: []string{"web-hook"}},
			{Name: "shop", Owners: []string{"shop"}, Severity: "high", Sinks: []string{"shop-mail"}},
			{Name: "ops", Checks: []string{"notification-failed"}, Events: []string{"opened", "resolved"}, Sinks: []string{"all", "web-hook"}},
			{Name: "stages", Owners: []string{"-"}, Events: []string{"stage-failed"}, Sinks: []string{"all"}},
		}}
	r := router(t, c)
	tr := func(event string, f reconcile.Finding) reconcile.Transition {
		return reconcile.Transition{Fingerprint: f.Fingerprint(), Event: event, Finding: f}
	}
	sinks := func(ns []store.Notification) string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Route+"/"+n.Sink)
		}
		return strings.Join(out, " ")
	}
	web := reconcile.Finding{Check: "unmanaged-key", Severity: reconcile.Critical, Subject: "CN=www.example.test", Owner: "web"}
	shopLow := reconcile.Finding{Check: "caa-missing", Severity: reconcile.Low, Subject: "shop.example.test", Owner: "shop"}
	shopHigh := reconcile.Finding{Check: "unauthorized-issuance", Severity: reconcile.Critical, Subject: "shop.example.test", Owner: "shop",
		Evidence: map[string]any{"iodef": []any{"mailto:security@example.test"}}}
	failing := reconcile.Finding{Check: FailedCheck, Severity: reconcile.High, Subject: "web/web-hook"}
	for _, tc := range []struct {
		name string
		t    reconcile.Transition
		want string
	}{
		{"owner's route", tr("opened", web), "web/web-hook"},
		{"resolved is not asked for", tr("resolved", web), ""},
		{"below the route's severity", tr("opened", shopLow), ""},
		{"at the route's severity", tr("reopened", shopHigh), "shop/shop-mail"},
		{"suppressed", tr("opened", func() reconcile.Finding { f := web; f.Suppressed = true; return f }()), ""},
		{"a failing sink is not told of itself", tr("opened", failing), "ops/all"},
		{"failure resolved", tr("resolved", failing), "ops/all"},
	} {
		if got := sinks(r.Notifications(tc.t, 7, t0)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// Idempotency keys: the same event of the same run is the same key;
	// another run, another key.
	a, b, other := r.Notifications(tr("opened", web), 7, t0), r.Notifications(tr("opened", web), 7, t0.Add(time.Hour)), r.Notifications(tr("opened", web), 8, t0)
	if a[0].Key != b[0].Key || a[0].Key == other[0].Key {
		t.Errorf("keys %s %s %s", a[0].Key, b[0].Key, other[0].Key)
	}
	var p Payload
	if err := json.Unmarshal(r.Notifications(tr("opened", shopHigh), 7, t0)[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.ID == "" || p.Owner == nil || p.Owner.Contacts[0] != "shop@example.test" || len(p.Contacts) != 1 || p.Fix == "" || p.Finding.Check != "unauthorized-issuance" {
		t.Errorf("payload %+v", p)
	}
	if ns := r.StageFailed(StageFailure{Stage: "inventory", RunID: 3, Status: "failed", Note: "token not found"}, t0); sinks(ns) != "stages/all" {
		t.Errorf("stage failure routed to %q", sinks(ns))
	}
	if _, err := r.Test("nope", t0); err == nil {
		t.Error("test of an unknown route")
	}
}

func TestConfigRefusals(t *testing.T) {
	for name, c := range map[string]Config{
		"unknown sink":      {Routes: []Route{{Name: "r", Sinks: []string{"x"}}}},
		"unknown owner":     {Sinks: map[string]Sink{"s": {Exec: []string{"/bin/true"}}}, Routes: []Route{{Name: "r", Owners: []string{"ghost"}, Sinks: []string{"s"}}}},
		"unknown check":     {Sinks: map[string]Sink{"s": {Exec: []string{"/bin/true"}}}, Routes: []Route{{Name: "r", Checks: []string{"nope"}, Sinks: []string{"s"}}}},
		"two kinds":         {Sinks: map[string]Sink{"s": {Exec: []string{"/bin/true"}, Webhook: "http://127.0.0.1/"}}},
		"password in URL":   {Sinks: map[string]Sink{"s": {Webhook: "https://u:p@example.test/"}}},
		"smtp without from": {Sinks: map[string]Sink{"s": {SMTP: "127.0.0.1:25"}}},
		"bad event":         {Sinks: map[string]Sink{"s": {Exec: []string{"/bin/true"}}}, Routes: []Route{{Name: "r", Events: []string{"exploded"}, Sinks: []string{"s"}}}},
	} {
		if _, err := NewRouter(c, owners()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSignVerify(t *testing.T) {
	body := []byte(`{"id":"ka-1"}`)
	h := http.Header{}
	h.Set(HeaderTimestamp, "1764579600")
	h.Set(HeaderSignature, Sign([]byte("s3cret"), 1764579600, body))
	now := time.Unix(1764579600, 0)
	if err := Verify([]byte("s3cret"), h, body, now, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if Verify([]byte("other"), h, body, now, 5*time.Minute) == nil || Verify([]byte("s3cret"), h, []byte(`{"id":"ka-2"}`), now, 5*time.Minute) == nil {
		t.Error("a wrong secret or body verified")
	}
	if Verify([]byte("s3cret"), h, body, now.Add(time.Hour), 5*time.Minute) == nil {
		t.Error("a replayed delivery verified")
	}
}

// receiver is a loopback webhook receiver: it verifies signatures,
// counts deliveries and dedupes them by idempotency key; it answers 503
// to the first failFirst deliveries.
type receiver struct {
	mu        sync.Mutex
	secret    []byte
	failFirst int
	calls     int
	byKey     map[string]int
	bad       []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	if rc.calls <= rc.failFirst {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if err := Verify(rc.secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		rc.bad = append(rc.bad, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	rc.byKey[r.Header.Get(HeaderIdempotency)]++
}

func TestSenderRetriesASinkThatIsDown(t *testing.T) {
	rc := &receiver{secret: []byte("hook-secret"), failFirst: 2, byKey: map[string]int{}}
	srv := httptest.NewServer(rc) // 127.0.0.1
	defer srv.Close()
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("hook-secret\n"), 0o600)
	r := router(t, Config{Sinks: map[string]Sink{"hook": {Webhook: srv.URL + "/keyaudit", SecretFile: secretFile}},
		Routes: []Route{{Name: "web", Owners: []string{"web"}, Sinks: []string{"hook"}}}})
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := reconcile.Finding{Check: "unmanaged-key", Severity: reconcile.Critical, Subject: "CN=www.example.test", Owner: "web"}
	ns := r.Notifications(reconcile.Transition{Fingerprint: f.Fingerprint(), Event: "opened", Finding: f}, 1, t0)
	if _, err := st.EnqueueNotifications(ctx, ns); err != nil {
		t.Fatal(err)
	}
	now := t0
	s := &Sender{Router: r, Deliverer: &Deliverer{}, Now: func() time.Time { return now }}
	for i, want := range []Result{{Failed: 1}, {}, {Failed: 1}, {Sent: 1}, {}} {
		res, err := s.Drain(ctx, st)
		if err != nil || res.Sent != want.Sent || res.Failed != want.Failed {
			t.Fatalf("drain %d at %s: %+v %v, want %+v", i, now.Format(time.TimeOnly), res, err, want)
		}
		now = now.Add(map[int]time.Duration{0: 10 * time.Second, 1: time.Minute, 2: 2 * time.Minute, 3: time.Hour}[i])
	}
	if rc.calls != 3 || len(rc.byKey) != 1 || rc.byKey[ns[0].Key] != 1 || len(rc.bad) != 0 {
		t.Errorf("receiver: %d calls, keys %v, bad %v", rc.calls, rc.byKey, rc.bad)
	}
	var n store.Notification
	st.Notifications(ctx, store.NotificationFilter{}, func(x store.Notification) error { n = x; return nil })
	if n.Status != store.NotificationSent || n.Attempts != 3 {
		t.Errorf("outbox: %+v", n)
	}
}

func TestExecSink(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "hook.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nenv | grep '^KEYAUDIT_' | sort > \"$1\"\ncat > \"$1.json\"\n"), 0o700)
	out := filepath.Join(dir, "env")
	t.Setenv("KEYAUDIT_PKCS11_PIN", "123456")
	f := reconcile.Finding{Check: "weak-key", Severity: reconcile.High, Subject: "CN=w", Endpoint: "tls://127.0.0.1:443", Owner: "web", Message: "RSA-1024"}
	p := Payload{ID: "ka-x", Event: "opened", Route: "web", Finding: &f, Fingerprint: f.Fingerprint()}
	raw, _ := json.Marshal(p)
	d := &Deliverer{}
	if err := d.Deliver(context.Background(), Sink{Exec: []string{script, out}}, p, raw); err != nil {
		t.Fatal(err)
	}
	env, _ := os.ReadFile(out)
	for _, want := range []string{"KEYAUDIT_EVENT=opened", "KEYAUDIT_CHECK=weak-key", "KEYAUDIT_OWNER=web", "KEYAUDIT_ID=ka-x", "KEYAUDIT_ENDPOINT=tls://127.0.0.1:443"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("hook environment lacks %s:\n%s", want, env)
		}
	}
	if strings.Contains(string(env), "123456") {
		t.Error("keyaudit's PIN variable reached the hook")
	}
	if b, _ := os.ReadFile(out + ".json"); string(b) != string(raw) {
		t.Errorf("stdin %s", b)
	}
	if err := d.Deliver(context.Background(), Sink{Exec: []string{"/bin/false"}}, p, raw); err == nil {
		t.Error("a failing hook delivered")
	}
}

func TestBackoff(t *testing.T) {
	prev := time.Duration(0)
	for n := 1; n <= 12; n++ {
		d := Backoff(n)
		if d <= 0 || d > time.Hour || (n <= 6 && d < prev/2) {
			t.Errorf("backoff %d = %v", n, d)
		}
		prev = d
	}
	if Backoff(20) < 48*time.Minute {
		t.Errorf("backoff is capped at an hour, less jitter: %v", Backoff(20))
	}
}

// TestDailyDigest: a digest route sends nothing per event; at its hour
// one message per owner lists the day's events, made once however often
// senders run, and a day keyaudit missed is made up.
func TestDailyDigest(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := router(t, Config{Sinks: map[string]Sink{"hook": {Exec: []string{"/bin/true"}}},
		Routes: []Route{{Name: "daily", Owners: []string{"web", "shop"}, Digest: "daily", DigestAt: "08:00", Sinks: []string{"hook"}}}})
	rec := func(f reconcile.Finding, at time.Time, event string) {
		t.Helper()
		fp := f.Fingerprint()
		data, _ := json.Marshal(f)
		tr := reconcile.Transition{Fingerprint: fp, Event: event, Finding: f}
		if ns := r.Notifications(tr, 1, at); len(ns) != 0 {
			t.Fatalf("a digest route sent %d notifications at once", len(ns))
		}
		err := st.UpdateFindings(ctx, nil, func(map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error) {
			return []store.FindingRecord{{Fingerprint: fp, Check: f.Check, Severity: string(f.Severity), State: store.FindingOpen, FirstSeen: at, LastSeen: at, Since: at, RunID: 1, Data: data}},
				[]store.FindingEvent{{Fingerprint: fp, Time: at, RunID: 1, Event: event}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rec(reconcile.Finding{Check: "weak-key", Severity: reconcile.High, Subject: "CN=a", Owner: "web"}, day.Add(10*time.Hour), "opened") // Dec 1, 10:00
	rec(reconcile.Finding{Check: "weak-key", Severity: reconcile.High, Subject: "CN=b", Owner: "web"}, day.Add(30*time.Hour), "opened") // Dec 2, 06:00
	rec(reconcile.Finding{Check: "caa-missing", Severity: reconcile.Low, Subject: "shop.example.test", Owner: "shop"}, day.Add(31*time.Hour), "opened")
	rec(reconcile.Finding{Check: "weak-key", Severity: reconcile.High, Subject: "CN=c", Owner: "lab"}, day.Add(31*time.Hour), "opened") // another owner's
	digests := func(now time.Time) map[string]int {
		t.Helper()
		if _, err := r.EnqueueDigests(ctx, st, now); err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		st.Notifications(ctx, store.NotificationFilter{}, func(n store.Notification) error {
			var p Payload
			json.Unmarshal(n.Payload, &p)
			out[n.Owner+" "+p.Digest.To.Format("01-02")] = len(p.Digest.Items)
			return nil
		})
		return out
	}
	// Dec 2, 07:00: the Dec 2 08:00 digest is not due; Dec 1's (window to
	// Dec 1 08:00) had no events.
	if got := digests(day.Add(31 * time.Hour)); len(got) != 0 {
		t.Errorf("before the hour: %v", got)
	}
	// Dec 3, 09:00 (Dec 2's digest missed): Dec 2's digest holds a and b
	// for web and shop's finding; Dec 3's nothing.
	want := map[string]int{"web 12-02": 2, "shop 12-02": 1}
	for i := 0; i < 2; i++ {
		if got := digests(day.Add(57 * time.Hour)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("run %d: digests %v, want %v", i+1, got, want)
		}
	}
}

// TestSlackSink: a Slack-compatible incoming webhook gets {"text": …}
// naming the event, the finding, its owner and the fix; a failure names
// the host but never the webhook's secret path.
func TestSlackSink(t *testing.T) {
	var got map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/services/T0/B0/secret-token" {
			http.Error(w, "no such hook", http.StatusNotFound)
			return
		}
		json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()
	f := reconcile.Finding{Check: "certificate-expiring", Severity: reconcile.High, Subject: "CN=www.example.test", Endpoint: "tls://127.0.0.1:443", Owner: "web", Message: "expires in 5 days"}
	p := Payload{ID: "ka-s", Event: "opened", Finding: &f, Owner: &Owner{Name: "web"}, Fix: "renew it"}
	raw, _ := json.Marshal(p)
	d := &Deliverer{}
	if err := d.Deliver(context.Background(), Sink{Slack: srv.URL + "/services/T0/B0/secret-token"}, p, raw); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"opened high certificate-expiring: CN=www.example.test at tls://127.0.0.1:443", "expires in 5 days", "owner: web", "fix: renew it"} {
		if !strings.Contains(got["text"], want) {
			t.Errorf("text %q lacks %q", got["text"], want)
		}
	}
	err := d.Deliver(context.Background(), Sink{Slack: srv.URL + "/services/T0/B0/wrong-token"}, p, raw)
	if err == nil || strings.Contains(err.Error(), "wrong-token") || !strings.Contains(err.Error(), "404") {
		t.Errorf("failure: %v", err)
	}
}
