package starttls

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

const (
	xmppTLSNS      = "urn:ietf:params:xml:ns:xmpp-tls"
	maxXMPPBytes   = 64 << 10 // stream header + features
	maxXMPPTokens  = 4096
	xmppStreamOpen = "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)

// xmpp implements RFC 6120 §5.4: open a stream, find <starttls/> among the
// features, send it, expect <proceed/>.
func xmpp(rw io.ReadWriter, host string) error {
	fail := func(step string, err error) error {
		return &Error{Protocol: "xmpp", Step: step, Err: err}
	}
	if host == "" {
		host = "localhost"
	}
	if _, err := fmt.Fprintf(rw, xmppStreamOpen, xmlEscape(host)); err != nil {
		return fail("stream", err)
	}
	// Byte-wise reads: nothing after <proceed/> may be consumed.
	d := xml.NewDecoder(newLineReader(&capReader{r: rw, n: maxXMPPBytes}).r)
	offered, err := XMPPFeatures(d)
	if err != nil {
		return fail("features", err)
	}
	if !offered {
		return fail("features", ErrNotOffered)
	}
	if _, err := io.WriteString(rw, "<starttls xmlns='"+xmppTLSNS+"'/>"); err != nil {
		return fail("starttls", err)
	}
	for range maxXMPPTokens {
		tok, err := d.RawToken()
		if err != nil {
			return fail("starttls", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "proceed":
				return nil
			case "failure", "error":
				return fail("starttls", ErrRejected)
			}
		}
	}
	return fail("starttls", fmt.Errorf("%w: no <proceed/>", ErrProtocol))
}

// XMPPFeatures reads tokens up to the end of <stream:features> and
// reports whether <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>
// was offered.
func XMPPFeatures(d *xml.Decoder) (bool, error) {
	depth, inFeatures, offered := 0, false, false
	for range maxXMPPTokens {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return false, fmt.Errorf("%w: no end of the stream features in %d bytes", err, maxXMPPBytes)
			}
			if errors.Is(err, io.EOF) {
				return false, io.ErrUnexpectedEOF
			}
			return false, fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case t.Name.Local == "features":
				inFeatures = true
			case t.Name.Local == "error" && !inFeatures:
				return false, ErrRejected
			case inFeatures && t.Name.Local == "starttls" && t.Name.Space == xmppTLSNS:
				offered = true
			}
		case xml.EndElement:
			depth--
			if t.Name.Local == "features" {
				return offered, nil
			}
		}
	}
	return false, fmt.Errorf("%w: no </stream:features> in %d tokens", ErrProtocol, maxXMPPTokens)
}

// capReader reads at most n bytes of r, then fails with ErrTooLarge:
// unlike io.LimitedReader's io.EOF, which would read as the server
// closing the connection, it says the server sent too much.
type capReader struct {
	r io.Reader
	n int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

func xmlEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"', '<', '>', '&':
			b = append(b, fmt.Sprintf("&#%d;", c)...)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
