// Package starttls upgrades plaintext protocols to TLS: it speaks just
// enough SMTP, IMAP, POP3, FTP, LDAP, PostgreSQL, MySQL and XMPP to reach
// the point where the server expects a TLS ClientHello. One file per
// protocol. Every reply is read through size caps; a server that does not
// offer or refuses the upgrade yields an *Error, never a hang (the caller
// sets the connection deadline).
package starttls

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Caps on what a server may send before TLS.
const (
	maxLineBytes  = 4096 // one reply line
	maxReplyLines = 128  // lines in one multi-line reply
	maxPacket     = 1 << 16
)

// Sentinel conditions, wrapped by *Error.
var (
	ErrNotOffered = errors.New("server does not offer STARTTLS")
	ErrRejected   = errors.New("server rejected STARTTLS")
	ErrProtocol   = errors.New("unexpected reply")
	ErrTooLarge   = errors.New("reply too large")
)

// Error is a failed upgrade: which protocol, at which step, and what the
// server said (truncated, printable).
type Error struct {
	Protocol string
	Step     string
	Reply    string
	Err      error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.Protocol, e.Step, e.Err)
	if e.Reply != "" {
		msg += fmt.Sprintf(" (server said %q)", e.Reply)
	}
	return msg
}
func (e *Error) Unwrap() error { return e.Err }

// upgrader performs one protocol's plaintext exchange over rw.
type upgrader func(rw io.ReadWriter, host string) error

var upgraders = map[string]upgrader{
	"smtp":     smtp,
	"imap":     imap,
	"pop3":     pop3,
	"ftp":      ftp,
	"ldap":     ldap,
	"postgres": postgres,
	"mysql":    mysql,
	"xmpp":     xmpp,
}

// Supported lists the protocols Upgrade knows, sorted.
func Supported() []string {
	out := make([]string, 0, len(upgraders))
	for k := range upgraders {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Upgrade runs proto's STARTTLS exchange on rw. host names the server
// where the protocol carries it (XMPP's stream "to"). The caller owns
// deadlines and cancellation on the underlying connection.
func Upgrade(rw io.ReadWriter, proto, host string) error {
	u, ok := upgraders[proto]
	if !ok {
		return &Error{Protocol: proto, Step: "select", Err: fmt.Errorf("unsupported protocol %q", proto)}
	}
	return u(rw, host)
}

// lineReader reads CRLF lines without ever buffering past maxLineBytes.
// It reads one byte at a time through a tiny buffer so nothing after the
// final reply line (the start of TLS) is consumed.
type lineReader struct {
	r *bufio.Reader
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(oneByteReader{r}, 16)}
}

// oneByteReader makes bufio read byte by byte, so the buffered reader
// never swallows bytes the TLS layer must see.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func (l *lineReader) line() (string, error) {
	var buf []byte
	for {
		b, err := l.r.ReadByte()
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		if b == '\n' {
			return strings.TrimRight(string(buf), "\r"), nil
		}
		buf = append(buf, b)
		if len(buf) > maxLineBytes {
			return "", fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, maxLineBytes)
		}
	}
}

// printable truncates and sanitises a server reply for error messages.
func printable(s string) string {
	const max = 120
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '.'
		}
		return r
	}, s)
}

func printableBytes(b []byte) string {
	return printable(string(bytes.ToValidUTF8(b, []byte("?"))))
}

func write(w io.Writer, s string) error {
	_, err := io.WriteString(w, s)
	return err
}
