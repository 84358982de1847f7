package starttls

import (
	"io"
	"strings"
)

// pop3 implements RFC 2595 §4: "+OK" greeting, STLS, "+OK".
func pop3(rw io.ReadWriter, _ string) error {
	fail := func(step, reply string, err error) error {
		return &Error{Protocol: "pop3", Step: step, Reply: printable(reply), Err: err}
	}
	l := newLineReader(rw)
	greet, err := l.line()
	if err != nil {
		return fail("greeting", "", err)
	}
	if !strings.HasPrefix(greet, "+OK") {
		return fail("greeting", greet, ErrRejected)
	}
	if err := write(rw, "STLS\r\n"); err != nil {
		return fail("STLS", "", err)
	}
	r, err := l.line()
	if err != nil {
		return fail("STLS", "", err)
	}
	switch {
	case strings.HasPrefix(r, "+OK"):
		return nil
	case strings.HasPrefix(r, "-ERR"):
		return fail("STLS", r, ErrNotOffered)
	}
	return fail("STLS", r, errReply(r))
}
