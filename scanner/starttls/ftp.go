package starttls

import (
	"io"
	"strings"
)

// ftp implements RFC 4217: greeting 220, AUTH TLS, 234.
func ftp(rw io.ReadWriter, _ string) error {
	fail := func(step string, reply Reply, err error) error {
		return &Error{Protocol: "ftp", Step: step, Reply: printable(strings.Join(reply.Lines, " | ")), Err: err}
	}
	l := newLineReader(rw)
	greet, err := readReply(l)
	if err != nil {
		return fail("greeting", greet, err)
	}
	if greet.Code != 220 {
		return fail("greeting", greet, ErrRejected)
	}
	if err := write(rw, "AUTH TLS\r\n"); err != nil {
		return fail("AUTH TLS", Reply{}, err)
	}
	r, err := readReply(l)
	if err != nil {
		return fail("AUTH TLS", r, err)
	}
	switch {
	case r.Code == 234:
		return nil
	case r.Code == 500 || r.Code == 502 || r.Code == 504:
		return fail("AUTH TLS", r, ErrNotOffered)
	default:
		return fail("AUTH TLS", r, ErrRejected)
	}
}
