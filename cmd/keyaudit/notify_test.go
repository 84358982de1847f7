package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/notify"
	"github.com/keyaudit/keyaudit/reconcile"
)

// hookReceiver is a loopback webhook receiver: it checks every
// delivery's signature and timestamp, and keeps the deliveries by
// idempotency key (a key delivered twice counts once, as a receiver
// deduplicating by key would; dups says how often that happened).
type hookReceiver struct {
	mu        sync.Mutex
	secret    string
	URL       string
	failFirst int
	calls     int
	byKey     map[string]notify.Payload
	dups      int
	bad       []string
	// hold, when set, is closed to let deliveries answer (a slow sink).
	hold chan struct{}
}

func newHookReceiver(t *testing.T, ip, secret string) *hookReceiver {
	t.Helper()
	testlab.MustLoopback(t, ip)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	h := &hookReceiver{secret: secret, URL: "http://" + ln.Addr().String() + "/keyaudit", byKey: map[string]notify.Payload{}}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return h
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.calls++
	fail, hold := h.calls <= h.failFirst, h.hold
	h.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if fail {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := notify.Verify([]byte(h.secret), r.Header, body, time.Now(), 5*time.Minute); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p notify.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.ID != r.Header.Get(notify.HeaderIdempotency) {
		h.bad = append(h.bad, fmt.Sprintf("payload %v, id %s", err, p.ID))
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	if _, ok := h.byKey[p.ID]; ok {
		h.dups++
	}
	h.byKey[p.ID] = p
}

func (h *hookReceiver) snapshot() (map[string]notify.Payload, int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]notify.Payload{}
	for k, v := range h.byKey {
		out[k] = v
	}
	return out, h.dups, append([]string(nil), h.bad...)
}

// TestNotificationsOnTheDemoEstate: two owners, each with a webhook and a
// mailbox (real Postfix delivering to real Dovecot). The first audit
// sends each routed finding to its owner's webhook and mailbox, once; a
// second audit with nothing changed sends nothing; a new rogue
// certificate in CT sends one message to the domain's owner.
func TestNotificationsOnTheDemoEstate(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: the whole demo estate, mail servers, three audits")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	_, au, _ := demoAudit(t, ctx, "127.0.7", "127.0.8", 9447)
	mail := testlab.StartMail(t, "127.0.62.3", "example.test")
	web, platform := newHookReceiver(t, "127.0.63.1", "web-secret-1"), newHookReceiver(t, "127.0.63.2", "platform-secret-2")
	t.Setenv("WEBHOOK_SECRET_WEB", web.secret)
	t.Setenv("WEBHOOK_SECRET_PLATFORM", platform.secret)
	f, err := os.OpenFile(au.Config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, `
owners:
  - name: web-team
    business-unit: retail
    contacts: [web-team@example.test]
    domains: [example.test]
  - name: platform-team
    business-unit: infrastructure
    contacts: [platform-team@example.test]
    cidrs: [127.0.7.0/27]
notify:
  sinks:
    web-hook: {webhook: %[1]s, secret-env: WEBHOOK_SECRET_WEB}
    platform-hook: {webhook: %[2]s, secret-env: WEBHOOK_SECRET_PLATFORM}
    mail: {smtp: %[3]s, from: keyaudit@example.test, ca-file: %[4]s}
  routes:
    - {name: web, owners: [web-team], severity: critical, sinks: [web-hook, mail]}
    - {name: platform, owners: [platform-team], sinks: [platform-hook, mail]}
`, web.URL, platform.URL, mail.SMTPAddr, mail.RootFile)
	f.Close()

	audit := func(n int) []reconcile.Finding {
		t.Helper()
		r := runCLI(t, ctx, "", "--config", au.Config, "audit", "--format", "jsonl")
		if r.code != 1 || !strings.Contains(r.stderr, "notify") {
			t.Fatalf("audit %d: exit %d\n%s", n, r.code, r.stderr)
		}
		return findingLines(t, r.stdout)
	}
	// want are the findings a route should have sent, by fingerprint.
	want := func(fs []reconcile.Finding, owner string, sev reconcile.Severity) map[string]reconcile.Finding {
		out := map[string]reconcile.Finding{}
		for _, f := range fs {
			if f.Owner == owner && !f.Suppressed && f.Severity.Rank() >= sev.Rank() {
				out[f.Fingerprint()] = f
			}
		}
		return out
	}
	check := func(stage string, h *hookReceiver, expect map[string]reconcile.Finding, owner string) {
		t.Helper()
		got, dups, bad := h.snapshot()
		if len(bad) > 0 || dups > 0 {
			t.Errorf("%s: %s receiver: bad deliveries %v, %d duplicates", stage, owner, bad, dups)
		}
		seen := map[string]bool{}
		for _, p := range got {
			if p.Finding == nil || p.Finding.Owner != owner || p.Owner == nil || p.Owner.Name != owner {
				t.Errorf("%s: %s received %+v", stage, owner, p)
				continue
			}
			seen[p.Fingerprint] = true
		}
		if len(got) != len(expect) {
			t.Errorf("%s: %s received %d deliveries, want %d", stage, owner, len(got), len(expect))
		}
		for fp, f := range expect {
			if !seen[fp] {
				t.Errorf("%s: %s never told of %s %s %s", stage, owner, f.Check, f.Subject, f.Endpoint)
			}
		}
	}
	mailbox := func(stage, user string, n int) {
		t.Helper()
		got := mail.Mailbox(t, user, n, 30*time.Second)
		ids := map[string]bool{}
		for _, m := range got {
			ids[m.MessageID] = true
		}
		if len(got) != n || len(ids) != n {
			t.Errorf("%s: %s's mailbox holds %d messages (%d distinct), want %d", stage, user, len(got), len(ids), n)
		}
	}

	first := audit(1)
	webWant, platWant := want(first, "web-team", reconcile.Critical), want(first, "platform-team", reconcile.Info)
	if len(webWant) == 0 || len(platWant) == 0 {
		t.Fatalf("the demo estate gave web-team %d and platform-team %d routed findings", len(webWant), len(platWant))
	}
	t.Logf("routed: web-team %d critical findings, platform-team %d", len(webWant), len(platWant))
	check("audit 1", web, webWant, "web-team")
	check("audit 1", platform, platWant, "platform-team")
	mailbox("audit 1", "web-team", len(webWant))
	mailbox("audit 1", "platform-team", len(platWant))

	// Nothing changed: nothing is sent.
	audit(2)
	check("audit 2", web, webWant, "web-team")
	check("audit 2", platform, platWant, "platform-team")
	time.Sleep(2 * time.Second) // what Postfix might still deliver
	mailbox("audit 2", "web-team", len(webWant))
	mailbox("audit 2", "platform-team", len(platWant))

	// A new rogue certificate for a web-team name: one message to it.
	pay, err := au.Rogue.Issue(estate.Leaf{CN: "pay.example.test", DNS: []string{"pay.example.test"}, Key: estate.ECDSA256})
	if err != nil {
		t.Fatal(err)
	}
	if err := au.CT.AddChain(ctx, pay.Certificate); err != nil {
		t.Fatal(err)
	}
	if err := au.CT.WaitSize(ctx, 3); err != nil {
		t.Fatal(err)
	}
	third := audit(3)
	webNow := want(third, "web-team", reconcile.Critical)
	if len(webNow) != len(webWant)+1 {
		t.Fatalf("audit 3: web-team has %d critical findings, had %d", len(webNow), len(webWant))
	}
	check("audit 3", web, webNow, "web-team")
	check("audit 3", platform, platWant, "platform-team")
	mailbox("audit 3", "web-team", len(webWant)+1)
	got, _, _ := web.snapshot()
	found := false
	for _, p := range got {
		found = found || p.Finding.Check == "unauthorized-issuance" && p.Finding.Subject == "pay.example.test" && p.Event == "opened"
	}
	if !found {
		t.Error("audit 3: web-team was not told of the rogue certificate for pay.example.test")
	}
	if r := runCLI(t, ctx, "", "--config", au.Config, "notify", "list", "--status", "pending", "--format", "jsonl"); r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("pending notifications after three audits: exit %d\n%s", r.code, r.stdout)
	}
}

// TestNotifyTestAndConfigCheck: notify test sends a sample event to a
// route's sinks through the outbox; config check refuses a route that
// names an owner nobody configured, and a misspelt key.
func TestNotifyTestAndConfigCheck(t *testing.T) {
	hook := newHookReceiver(t, "127.0.63.4", "test-secret")
	t.Setenv("HOOK_SECRET", hook.secret)
	dir := t.TempDir()
	write := func(notifyYAML string) string {
		cfg := filepath.Join(dir, "keyaudit.yaml")
		os.WriteFile(cfg, []byte("store: "+filepath.Join(dir, "k.db")+`
owners:
  - {name: web-team, contacts: [web@example.test], domains: [example.test]}
notify:
`+notifyYAML), 0o600)
		return cfg
	}
	ctx := context.Background()
	good := write("  sinks:\n    hook: {webhook: " + hook.URL + ", secret-env: HOOK_SECRET}\n  routes:\n    - {name: web, owners: [web-team], sinks: [hook]}\n")
	if r := runCLI(t, ctx, "", "--config", good, "config", "check"); r.code != 0 {
		t.Fatalf("config check: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, ctx, "", "--config", good, "notify", "test", "--route", "web"); r.code != 0 || !strings.Contains(r.stdout, "1 sent, 0 failed") {
		t.Fatalf("notify test: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	got, _, bad := hook.snapshot()
	if len(got) != 1 || len(bad) != 0 {
		t.Fatalf("deliveries %v, bad %v", got, bad)
	}
	for _, p := range got {
		if p.Event != notify.EventTest || p.Owner == nil || p.Owner.Name != "web-team" || !strings.Contains(p.Finding.Message, "nothing is wrong") {
			t.Errorf("test payload %+v", p)
		}
	}
	if r := runCLI(t, ctx, "", "--config", good, "notify", "test", "--route", "nope"); r.code != 2 || !strings.Contains(r.stderr, `no route named "nope"`) {
		t.Errorf("unknown route: exit %d %s", r.code, r.stderr)
	}
	for name, bad := range map[string]string{
		"unknown owner": "  sinks:\n    hook: {webhook: " + hook.URL + "}\n  routes:\n    - {name: web, owners: [web-tem], sinks: [hook]}\n",
		"misspelt key":  "  sinks:\n    hook: {webhook: " + hook.URL + ", secret_env: HOOK_SECRET}\n",
	} {
		if r := runCLI(t, ctx, "", "--config", write(bad), "config", "check"); r.code != 2 {
			t.Errorf("%s: config check exit %d %s", name, r.code, r.stderr)
		}
	}
}

// TestNotifyStageFailed: an audit whose inventory stage fails (its token
// does not exist) tells the stage-failed route, once per audit.
func TestNotifyStageFailed(t *testing.T) {
	hook := newHookReceiver(t, "127.0.63.5", "stage-secret")
	t.Setenv("HOOK_SECRET", hook.secret)
	h := testlab.NewSoftHSM(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "keyaudit.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`store: %s
inventory:
  sources:
    - pkcs11: "pkcs11:token=no-such-token?module-path=%s"
notify:
  sinks:
    ops: {webhook: %s, secret-env: HOOK_SECRET}
  routes:
    - {name: ops, owners: ["-"], events: [stage-failed], sinks: [ops]}
`, filepath.Join(dir, "k.db"), h.Module, hook.URL)), 0o600)
	ctx := context.Background()
	for i := 1; i <= 2; i++ {
		r := runCLI(t, ctx, "", "--config", cfg, "audit", "--stages", "inventory", "--format", "jsonl")
		if r.code != 2 {
			t.Fatalf("audit %d: exit %d, want 2 (a stage failed)\n%s", i, r.code, r.stderr)
		}
		got, _, bad := hook.snapshot()
		inventory := 0
		for _, p := range got {
			if p.Event != notify.EventStageFailed || p.Stage == nil {
				t.Errorf("payload %+v", p)
				continue
			}
			// With nothing inventoried, the reconcile has nothing to read
			// and fails too: it is told of as well.
			if p.Stage.Stage == "inventory" {
				inventory++
				if !strings.Contains(p.Stage.Note, "no-such-token") {
					t.Errorf("inventory failure: %+v", p.Stage)
				}
			}
		}
		if inventory != i || len(bad) != 0 {
			t.Fatalf("audit %d: %d inventory failures told of, want %d (bad %v)", i, inventory, i, bad)
		}
	}
}
