package notify_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

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
