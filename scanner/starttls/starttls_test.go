package starttls

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// script is a fake peer: it answers from a fixed transcript and records
// what the client wrote.
type script struct {
	in  io.Reader
	out bytes.Buffer
}

func (s *script) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s *script) Write(p []byte) (int, error) { return s.out.Write(p) }

func peer(reply string) *script { return &script{in: strings.NewReader(reply)} }

func TestUpgradeTranscripts(t *testing.T) {
	tests := []struct {
		proto, reply string
		wantWrite    string
		wantErr      error
	}{
		{"smtp", "220 mx ESMTP\r\n250-mx\r\n250-STARTTLS\r\n250 SIZE 1000\r\n220 go ahead\r\n", "STARTTLS\r\n", nil},
		{"smtp", "220-mx multi\r\n220 line\r\n250-mx\r\n250 starttls\r\n220 ok\r\n", "STARTTLS\r\n", nil},
		{"smtp", "220 mx\r\n250-mx\r\n250 SIZE 1\r\n", "EHLO", ErrNotOffered},
		{"smtp", "554 go away\r\n", "", ErrRejected},
		{"smtp", "220 mx\r\n250-mx\r\n250 STARTTLS\r\n454 TLS not available\r\n", "STARTTLS", ErrRejected},
		{"smtp", "hello\r\n", "", ErrProtocol},
		{"imap", "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n* CAPABILITY x\r\nka1 OK begin\r\n", "ka1 STARTTLS\r\n", nil},
		{"imap", "* OK [CAPABILITY IMAP4rev1] hi\r\n", "", ErrNotOffered},
		{"imap", "* OK hi\r\nka1 BAD no\r\n", "ka1 STARTTLS", ErrNotOffered},
		{"imap", "* BYE busy\r\n", "", ErrRejected},
		{"pop3", "+OK ready\r\n+OK begin\r\n", "STLS\r\n", nil},
		{"pop3", "+OK ready\r\n-ERR no\r\n", "STLS", ErrNotOffered},
		{"ftp", "220-welcome\r\nfree text\r\n220 ready\r\n234 ok\r\n", "AUTH TLS\r\n", nil},
		{"ftp", "220 ready\r\n502 no\r\n", "AUTH TLS", ErrNotOffered},
		{"postgres", "S", "", nil},
		{"postgres", "N", "", ErrNotOffered},
		{"postgres", "x", "", ErrProtocol},
		{"ldap", "\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x00\x04\x00\x04\x00", "", nil},
		{"ldap", "\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x02\x04\x00\x04\x00", "", ErrNotOffered},
		{"ldap", "\x30\x84\x7f\xff\xff\xff", "", ErrProtocol},
		{"xmpp", "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features><proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", "<starttls", nil},
		{"xmpp", "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><stream:features><bind/></stream:features>", "", ErrNotOffered},
		{"xmpp", "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features><failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", "", ErrRejected},
	}
	for _, tt := range tests {
		p := peer(tt.reply)
		err := Upgrade(p, tt.proto, "example.test")
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s %q: err = %v, want %v", tt.proto, tt.reply, err, tt.wantErr)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Protocol != tt.proto {
				t.Errorf("%s: error %v is not a *starttls.Error for the protocol", tt.proto, err)
			}
		}
		if !strings.Contains(p.out.String(), tt.wantWrite) {
			t.Errorf("%s: client wrote %q, want it to contain %q", tt.proto, p.out.String(), tt.wantWrite)
		}
	}
}

func TestMySQLGreeting(t *testing.T) {
	// A HandshakeV10 from a server with CLIENT_SSL (0x0800).
	g := []byte{10}
	g = append(g, "8.0.40\x00"...)
	g = append(g, 1, 0, 0, 0)
	g = append(g, "12345678"...)
	g = append(g, 0, 0x00, 0x0a, 0x21, 2, 0, 0x08, 0)
	got, err := ParseMySQLGreeting(g)
	if err != nil || got.Version != "8.0.40" || got.Capabilities&mysqlClientSSL == 0 || got.Capabilities&0x80000 == 0 {
		t.Fatalf("ParseMySQLGreeting = %+v, %v", got, err)
	}
	p := &script{in: bytes.NewReader(append([]byte{byte(len(g)), 0, 0, 0}, g...))}
	if err := Upgrade(p, "mysql", ""); err != nil {
		t.Fatal(err)
	}
	if w := p.out.Bytes(); len(w) != 36 || w[3] != 1 || w[5]&0x08 == 0 {
		t.Errorf("SSLRequest = % x", w)
	}
	if _, err := ParseMySQLGreeting([]byte("\xff\x15\x04Host not allowed")); !errors.Is(err, ErrRejected) {
		t.Errorf("ERR packet: %v", err)
	}
}

func TestLineCap(t *testing.T) {
	p := peer("220 " + strings.Repeat("a", maxLineBytes+10) + "\r\n")
	if err := Upgrade(p, "smtp", ""); !errors.Is(err, ErrProtocol) {
		t.Errorf("long line: %v", err)
	}
	p = peer("220-" + strings.Repeat("x\r\n220-", maxReplyLines+1))
	if err := Upgrade(p, "smtp", ""); !errors.Is(err, ErrProtocol) {
		t.Errorf("endless reply: %v", err)
	}
}

func TestLineReaderDoesNotOverread(t *testing.T) {
	// Bytes after the reply belong to TLS and must stay unread.
	in := strings.NewReader("220 ok\r\nTLSBYTES")
	l := newLineReader(in)
	if line, err := l.line(); err != nil || line != "220 ok" {
		t.Fatalf("line = %q, %v", line, err)
	}
	rest, _ := io.ReadAll(in)
	if string(rest) != "TLSBYTES" {
		t.Errorf("reader consumed past the line: rest %q", rest)
	}
}

func fuzzUpgrade(f *testing.F, proto string, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := &script{in: bytes.NewReader(b)}
		err := Upgrade(p, proto, "example.test")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not a *starttls.Error", err)
			}
		}
		if p.out.Len() > 4096 {
			t.Fatalf("client wrote %d bytes", p.out.Len())
		}
	})
}

func FuzzSMTP(f *testing.F) {
	fuzzUpgrade(f, "smtp", "220 a\r\n250-b\r\n250 STARTTLS\r\n220 c\r\n", "220-a\r\n220 b\r\n", "554 no\r\n")
}
func FuzzFTP(f *testing.F) {
	fuzzUpgrade(f, "ftp", "220-a\r\nx\r\n220 b\r\n234 ok\r\n", "220 a\r\n502 no\r\n")
}
func FuzzIMAP(f *testing.F) {
	fuzzUpgrade(f, "imap", "* OK hi\r\nka1 OK go\r\n", "* OK [CAPABILITY IMAP4rev1]\r\n")
}
func FuzzPOP3(f *testing.F) { fuzzUpgrade(f, "pop3", "+OK hi\r\n+OK go\r\n", "+OK\r\n-ERR\r\n") }
func FuzzLDAP(f *testing.F) {
	fuzzUpgrade(f, "ldap", "\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x00\x04\x00\x04\x00", "\x30\x81\x03\x02\x01\x01")
}
func FuzzMySQL(f *testing.F) {
	fuzzUpgrade(f, "mysql", "\x1a\x00\x00\x00\x0a8.0\x00\x01\x00\x00\x0012345678\x00\x00\x0a\x21\x02\x00\x08\x00", "\x05\x00\x00\x00\xff\x01\x02ab")
}
func FuzzXMPP(f *testing.F) {
	fuzzUpgrade(f, "xmpp", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features><proceed/>")
}

func FuzzParseReplyLine(f *testing.F) {
	for _, s := range []string{"250-x", "250 x", "250", "25", "abc x", "999 x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, _, _, err := ParseReplyLine(s)
		if err == nil && (code < 100 || code > 599) {
			t.Fatalf("code %d accepted", code)
		}
	})
}

func TestXMPPFeaturesNamespace(t *testing.T) {
	// <starttls/> in another namespace is not the TLS feature.
	d := xml.NewDecoder(strings.NewReader("<stream:stream xmlns:stream='s'><stream:features><starttls xmlns='other'/></stream:features>"))
	if ok, err := XMPPFeatures(d); ok || err != nil {
		t.Errorf("XMPPFeatures = %v, %v", ok, err)
	}
}

// endless is a fake for hostile behaviour: a server that sends prefix,
// then fill for ever.
type endless struct {
	prefix *strings.Reader
	fill   byte
	out    bytes.Buffer
}

func (e *endless) Read(p []byte) (int, error) {
	if e.prefix.Len() > 0 {
		return e.prefix.Read(p)
	}
	for i := range p {
		p[i] = e.fill
	}
	return len(p), nil
}
func (e *endless) Write(p []byte) (int, error) { return e.out.Write(p) }

// TestXMPPEndlessReply: an XMPP server that never stops sending before
// its stream features fails the upgrade as a reply too large, never as a
// connection closed by the server (io.EOF) — the cap is not the server
// hanging up.
func TestXMPPEndlessReply(t *testing.T) {
	const open = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	for name, e := range map[string]*endless{
		"text":                  {prefix: strings.NewReader(open), fill: 'x'},
		"whitespace":            {prefix: strings.NewReader(open + "<stream:features>"), fill: ' '},
		"one endless attribute": {prefix: strings.NewReader(open + "<stream:features a='"), fill: 'a'},
	} {
		err := Upgrade(e, "xmpp", "example.test")
		if !errors.Is(err, ErrTooLarge) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %v; want ErrTooLarge and no EOF", name, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "reply too large") || !strings.Contains(msg, "stream features") {
			t.Errorf("%s: message %q does not say what happened", name, msg)
		}
	}
}
