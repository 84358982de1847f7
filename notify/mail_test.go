package notify_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/notify"
	"github.com/keyaudit/keyaudit/reconcile"
)

// TestMailThroughPostfixToDovecot: an e-mail sink sends through a real
// Postfix (STARTTLS, the server checked against its private root), which
// delivers over LMTP to a real Dovecot; the message is read back over
// IMAP with its idempotency key as Message-ID.
func TestMailThroughPostfixToDovecot(t *testing.T) {
	m := testlab.StartMail(t, "127.0.62.1", "example.test")
	f := reconcile.Finding{Check: "weak-key", Severity: reconcile.High, Subject: "CN=w", Owner: "web"}
	p := notify.Payload{ID: "ka-smoke", Event: "opened", Route: "web", Finding: &f, Owner: &notify.Owner{Name: "web", Contacts: []string{"web@example.test"}}}
	raw, _ := json.Marshal(p)
	d := &notify.Deliverer{}
	if err := d.Deliver(context.Background(), notify.Sink{SMTP: m.SMTPAddr, From: "keyaudit@example.test", CAFile: m.RootFile}, p, raw); err != nil {
		t.Fatal(err)
	}
	got := m.Mailbox(t, "web", 1, 20*time.Second)
	if len(got) != 1 || got[0].MessageID != "<ka-smoke@example.test>" || got[0].Subject != "keyaudit: opened high weak-key: CN=w" ||
		got[0].Header.Get(notify.HeaderIdempotency) != "ka-smoke" {
		t.Fatalf("mailbox: %+v", got)
	}
}

// TestMailWithSMTPAuth: on a real Postfix submission port that takes mail
// only after STARTTLS and SMTP AUTH (checked by a real Dovecot), a sink
// without credentials is refused, a wrong password fails at AUTH without
// the password in the error, and the password from the environment or a
// file gets the message delivered and read back over IMAP.
func TestMailWithSMTPAuth(t *testing.T) {
	m := testlab.StartMail(t, "127.0.62.2", "example.test")
	f := reconcile.Finding{Check: "cert-expiring", Severity: reconcile.Medium, Subject: "CN=a", Owner: "pki"}
	payload := func(id string) (notify.Payload, []byte) {
		p := notify.Payload{ID: id, Event: "opened", Route: "pki", Finding: &f, Owner: &notify.Owner{Name: "pki", Contacts: []string{"pki@example.test"}}}
		raw, _ := json.Marshal(p)
		return p, raw
	}
	env := map[string]string{"GOOD_PW": estate.DovecotPassword, "BAD_PW": "not-the-password-4711"}
	d := &notify.Deliverer{Getenv: func(k string) string { return env[k] }}
	sink := notify.Sink{SMTP: m.SubmissionAddr, From: "keyaudit@example.test", CAFile: m.RootFile}
	ctx := context.Background()

	p, raw := payload("ka-noauth")
	if err := d.Deliver(ctx, sink, p, raw); err == nil || !strings.Contains(err.Error(), "RCPT TO") {
		t.Fatalf("without AUTH: %v (want the recipient refused)", err)
	}
	bad := sink
	bad.Username, bad.PasswordEnv = "keyaudit", "BAD_PW"
	p, raw = payload("ka-badauth")
	err := d.Deliver(ctx, bad, p, raw)
	if err == nil || !strings.Contains(err.Error(), "AUTH") || strings.Contains(err.Error(), env["BAD_PW"]) {
		t.Fatalf("wrong password: %v (want an AUTH error without the password)", err)
	}
	good := sink
	good.Username, good.PasswordEnv = "keyaudit", "GOOD_PW"
	p, raw = payload("ka-auth-env")
	if err := d.Deliver(ctx, good, p, raw); err != nil {
		t.Fatalf("password from the environment: %v", err)
	}
	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pwFile, []byte(estate.DovecotPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good.PasswordEnv, good.PasswordFile = "", pwFile
	p, raw = payload("ka-auth-file")
	if err := d.Deliver(ctx, good, p, raw); err != nil {
		t.Fatalf("password from a file: %v", err)
	}
	got := m.Mailbox(t, "pki", 2, 20*time.Second)
	ids := map[string]bool{}
	for _, g := range got {
		ids[g.MessageID] = true
	}
	if len(got) != 2 || !ids["<ka-auth-env@example.test>"] || !ids["<ka-auth-file@example.test>"] {
		t.Fatalf("mailbox: %+v (want exactly the two authenticated messages)", got)
	}
}
