package testlab

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Mail is one message of a mailbox, as IMAP returns its header.
type Mail struct {
	MessageID string
	Subject   string
	Header    mail.Header
}

var literal = regexp.MustCompile(`\{(\d+)\}$`)

// ReadMailbox logs in to the IMAP server at addr (a loopback address)
// as user with password, after STARTTLS (the server's certificate checked
// against rootPEM for serverName), and returns the header of every
// message in INBOX (none when the mailbox does not exist yet).
func ReadMailbox(t testing.TB, addr, serverName, user, password string, rootPEM []byte) []Mail {
	t.Helper()
	MustLoopback(t, addr)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("testlab: imap: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	var w io.Writer = conn
	tag := 0
	// cmd sends a command and returns the untagged lines and literals
	// until its tagged reply, failing on anything but OK.
	cmd := func(format string, args ...any) []string {
		t.Helper()
		tag++
		id := fmt.Sprintf("k%d", tag)
		fmt.Fprintf(w, "%s %s\r\n", id, fmt.Sprintf(format, args...))
		var out []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("testlab: imap: %v", err)
			}
			line = strings.TrimRight(line, "\r\n")
			if m := literal.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				buf := make([]byte, n)
				if _, err := io.ReadFull(r, buf); err != nil {
					t.Fatalf("testlab: imap: %v", err)
				}
				out = append(out, line, string(buf))
				continue
			}
			if strings.HasPrefix(line, id+" ") {
				if !strings.HasPrefix(line, id+" OK") {
					t.Fatalf("testlab: imap: %s: %s", strings.Fields(format)[0], line)
				}
				return out
			}
			out = append(out, line)
		}
	}
	if greet, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(greet, "* OK") {
		t.Fatalf("testlab: imap greeting %q: %v", greet, err)
	}
	cmd("STARTTLS")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	tc := tls.Client(conn, &tls.Config{ServerName: serverName, RootCAs: pool})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("testlab: imap STARTTLS: %v", err)
	}
	r, w = bufio.NewReader(tc), tc
	cmd("LOGIN %s %s", strconv.Quote(user), strconv.Quote(password))
	exists := 0
	for _, l := range cmd("SELECT INBOX") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "*" && f[2] == "EXISTS" {
			exists, _ = strconv.Atoi(f[1])
		}
	}
	var out []Mail
	if exists > 0 {
		for _, l := range cmd("FETCH 1:* (BODY.PEEK[HEADER])") {
			if strings.HasPrefix(l, "* ") {
				continue
			}
			m, err := mail.ReadMessage(strings.NewReader(l + "\r\n"))
			if err != nil {
				continue
			}
			out = append(out, Mail{MessageID: m.Header.Get("Message-Id"), Subject: m.Header.Get("Subject"), Header: m.Header})
		}
	}
	cmd("LOGOUT")
	return out
}
