package testlab

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
)

// MailLab is a real Postfix that delivers mail for Domain over LMTP to a
// real Dovecot, whose mailboxes are read back over IMAP (ReadMailbox):
// both on one loopback address, with STARTTLS under a private root.
type MailLab struct {
	SMTPAddr, IMAPAddr string
	// SubmissionAddr is Postfix's submission listener: mail only after
	// STARTTLS and SMTP AUTH (any user name, the password
	// estate.DovecotPassword, checked by Dovecot).
	SubmissionAddr string
	Domain         string
	// ServerName is the name in both servers' certificate; RootPEM is
	// its root (PEM), and RootFile holds it.
	ServerName string
	RootPEM    []byte
	RootFile   string
}

// StartMail starts the pair on ip (a 127.0.0.0/8 address no other test
// uses), stopped in t.Cleanup. It skips (fails under CI) when Postfix or
// Dovecot is missing.
func StartMail(t testing.TB, ip, domain string) *MailLab {
	t.Helper()
	for _, bin := range []string{"postfix", "dovecot"} {
		Need(t, bin, "/usr/sbin", "/usr/bin")
	}
	MustLoopback(t, ip)
	root, err := estate.NewRoot("keyaudit mail test root", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	name := "mail." + domain
	cert, err := root.Issue(estate.Leaf{CN: name, DNS: []string{name}, IPs: []net.IP{net.ParseIP(ip)}, Key: estate.ECDSA256})
	if err != nil {
		t.Fatal(err)
	}
	chain := estate.PEMChain(cert.Certificate)
	key, err := estate.PEMKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	at := func() string { return net.JoinHostPort(ip, strconv.Itoa(FreePort(t, ip))) }
	m := &MailLab{SMTPAddr: at(), IMAPAddr: at(), SubmissionAddr: at(), Domain: domain, ServerName: name, RootPEM: estate.PEMChain([][]byte{root.Cert.Raw})}
	m.RootFile = filepath.Join(t.TempDir(), "mail-root.pem")
	writeFile(t, m.RootFile, m.RootPEM)
	lmtp, pop3, auth := at(), at(), at()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dv, err := estate.StartDovecotListening(ctx, filepath.Join(dir, "dovecot"), estate.DovecotListeners{IMAP: m.IMAPAddr, POP3: pop3, LMTP: lmtp, Auth: auth}, chain, key)
	if err != nil {
		t.Fatalf("testlab: %v", err)
	}
	t.Cleanup(func() {
		dv.Stop()
		if t.Failed() {
			t.Logf("dovecot log:\n%s", dv.Tail())
		}
	})
	pf, err := estate.StartPostfixDelivering(ctx, filepath.Join(dir, "postfix"), m.SMTPAddr, chain, key, estate.MailDelivery{Domains: []string{domain}, LMTPAddr: lmtp, SubmissionAddr: m.SubmissionAddr, SASLAddr: auth})
	if err != nil {
		t.Fatalf("testlab: %v", err)
	}
	t.Cleanup(func() {
		pf.Stop()
		if t.Failed() {
			t.Logf("postfix log:\n%s", pf.Tail())
		}
	})
	return m
}

// Mailbox reads user's INBOX (user@Domain), waiting up to wait for at
// least want messages (Postfix delivers in the background).
func (m *MailLab) Mailbox(t testing.TB, user string, want int, wait time.Duration) []Mail {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		got := ReadMailbox(t, m.IMAPAddr, m.ServerName, user+"@"+m.Domain, estate.DovecotPassword, m.RootPEM)
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
