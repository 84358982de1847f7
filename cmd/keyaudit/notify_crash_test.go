package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/store"
)

// buildFailpoints builds keyaudit with its failpoints (internal/failpoint)
// once per test run.
var buildFailpoints = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "keyaudit-fp-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "keyaudit")
	out, err := exec.Command("go", "build", "-tags", "failpoints", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// TestNotifyKilled kills keyaudit with SIGKILL between recording the
// findings' notifications and sending the first, then between sending one
// and marking it sent, with a webhook sink and an e-mail sink (real
// Postfix delivering to real Dovecot) that is down for its first two
// attempts. Nothing is lost: every notification is delivered in the end.
// The one sent before the crash is sent again with the same idempotency
// key and Message-ID, so the receivers, which deduplicate by them, see
// each notification once.
func TestNotifyKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: builds and kills the keyaudit binary")
	}
	bin, err := buildFailpoints()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := tlsServer(t, "127.0.61.9:0", "crash.example.test")
	hook := newHookReceiver(t, "127.0.63.3", "crash-secret")
	hook.failFirst = 0
	mail := testlab.StartMail(t, "127.0.62.4", "example.test")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "keyaudit.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`store: %s
scan:
  targets: [%s]
  timeout: 3s
owners:
  - name: web-team
    contacts: [web-team@example.test]
    domains: [example.test]
    cidrs: [127.0.61.0/24]
notify:
  lease: 3s
  sinks:
    hook: {webhook: %s, secret-env: CRASH_HOOK_SECRET, timeout: 2s}
    mail: {smtp: %s, from: keyaudit@example.test, ca-file: %s, timeout: 2s}
  routes:
    - {name: web, owners: [web-team], sinks: [hook, mail]}
`, filepath.Join(dir, "k.db"), srv.Addr, hook.URL, mail.SMTPAddr, mail.RootFile)), 0o600)
	run := func(failpoint string, args ...string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--config", cfg}, args...)...)
		cmd.Env = append(os.Environ(), "CRASH_HOOK_SECRET=crash-secret", "KEYAUDIT_FAILPOINT="+failpoint)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, out.String()
		case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled():
			return -int(ee.Sys().(syscall.WaitStatus).Signal()), out.String()
		case errors.As(err, &ee):
			return ee.ExitCode(), out.String()
		}
		t.Fatalf("%v: %v", args, err)
		return 0, ""
	}
	outbox := func() (pending, sent int) {
		t.Helper()
		r := runCLI(t, context.Background(), "", "--config", cfg, "notify", "list", "--format", "jsonl")
		for _, n := range lines[store.Notification](t, r.stdout) {
			if n.Status == store.NotificationSent {
				sent++
			} else {
				pending++
			}
		}
		return pending, sent
	}

	// 1. Killed after the reconcile recorded its findings and their
	// notifications, before the first was sent.
	if code, out := run("notify-before-send", "audit", "--format", "jsonl"); code != -int(syscall.SIGKILL) {
		t.Fatalf("audit: exit %d, want killed\n%s", code, out)
	}
	got, _, _ := hook.snapshot()
	pending, sent := outbox()
	if len(got) != 0 || pending == 0 || sent != 0 || pending%2 != 0 {
		t.Fatalf("after the first kill: %d delivered, outbox %d pending %d sent", len(got), pending, sent)
	}
	total := pending // two sinks per finding
	// The killed audit held the first notification: it is free once the
	// lease is over.
	time.Sleep(3500 * time.Millisecond)

	// 2. Killed after delivering one, before marking it sent.
	if code, out := run("notify-after-send", "notify"); code != -int(syscall.SIGKILL) {
		t.Fatalf("notify: exit %d, want killed\n%s", code, out)
	}
	got, _, _ = hook.snapshot()
	mails := mail.Mailbox(t, "web-team", 1-len(got), 20*time.Second) // Postfix delivers in the background
	if len(got)+len(mails) != 1 {
		t.Fatalf("after the second kill: %d webhook deliveries and %d mails, want one delivery", len(got), len(mails))
	}
	if p, s := outbox(); p != total || s != 0 {
		t.Fatalf("after the second kill: outbox %d pending, %d sent", p, s)
	}

	// 3. Right away the killed sender's notification is still leased;
	// the others go. Then, the lease over, it goes too: sent twice, with
	// one key.
	if code, out := run("", "notify"); code != 0 {
		t.Fatalf("notify: exit %d\n%s", code, out)
	}
	if p, _ := outbox(); p != 1 {
		t.Fatalf("outbox: %d pending, want the leased one", p)
	}
	time.Sleep(3500 * time.Millisecond)
	if code, out := run("", "notify"); code != 0 {
		t.Fatalf("notify after the lease: exit %d\n%s", code, out)
	}
	if p, s := outbox(); p != 0 || s != total {
		t.Fatalf("outbox: %d pending, %d sent, want all %d sent", p, s, total)
	}
	got, dups, bad := hook.snapshot()
	mails = mail.Mailbox(t, "web-team", total/2, 30*time.Second)
	ids := map[string]int{}
	for _, m := range mails {
		ids[m.MessageID]++
	}
	if len(got) != total/2 || len(ids) != total/2 || len(bad) != 0 {
		t.Errorf("delivered: %d distinct webhook keys, %d distinct Message-IDs, want %d each (bad %v)", len(got), len(ids), total/2, bad)
	}
	// Exactly the one in flight at the crash arrived twice.
	again := dups + len(mails) - len(ids)
	if again != 1 {
		t.Errorf("%d deliveries repeated, want the one in flight at the kill (webhook dups %d, mails %d for %d IDs)", again, dups, len(mails), len(ids))
	}
	b, _ := json.Marshal(ids)
	if strings.Count(string(b), ":2") > 1 {
		t.Errorf("Message-IDs: %s", b)
	}
}
