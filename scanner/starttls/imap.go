package starttls

import (
	"fmt"
	"io"
	"strings"
)

// imap implements RFC 3501 §6.2.1 / RFC 2595: untagged OK greeting, then
// a tagged STARTTLS answered by a tagged OK. Untagged lines in between
// (CAPABILITY) are skipped.
func imap(rw io.ReadWriter, _ string) error {
	fail := func(step, reply string, err error) error {
		return &Error{Protocol: "imap", Step: step, Reply: printable(reply), Err: err}
	}
	l := newLineReader(rw)
	greet, err := l.line()
	if err != nil {
		return fail("greeting", "", err)
	}
	if err := CheckIMAPGreeting(greet); err != nil {
		return fail("greeting", greet, err)
	}
	if strings.Contains(strings.ToUpper(greet), "[CAPABILITY") && !strings.Contains(strings.ToUpper(greet), "STARTTLS") {
		return fail("greeting", greet, ErrNotOffered)
	}
	if err := write(rw, "ka1 STARTTLS\r\n"); err != nil {
		return fail("STARTTLS", "", err)
	}
	for range maxReplyLines {
		line, err := l.line()
		if err != nil {
			return fail("STARTTLS", "", err)
		}
		done, err := ParseIMAPTagged(line, "ka1")
		if err != nil {
			return fail("STARTTLS", line, err)
		}
		if done {
			return nil
		}
	}
	return fail("STARTTLS", "", fmt.Errorf("%w: no tagged reply in %d lines", ErrProtocol, maxReplyLines))
}

// CheckIMAPGreeting accepts "* OK …" (and reports "* PREAUTH"/"* BYE").
func CheckIMAPGreeting(line string) error {
	u := strings.ToUpper(line)
	switch {
	case strings.HasPrefix(u, "* OK"):
		return nil
	case strings.HasPrefix(u, "* BYE"), strings.HasPrefix(u, "* PREAUTH"):
		return ErrRejected
	}
	return errReply(line)
}

// ParseIMAPTagged reads one line of the STARTTLS response: untagged lines
// return (false, nil), "<tag> OK" returns (true, nil), "<tag> NO/BAD"
// returns an error.
func ParseIMAPTagged(line, tag string) (bool, error) {
	if strings.HasPrefix(line, "* ") || strings.HasPrefix(line, "+ ") {
		return false, nil
	}
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != tag {
		return false, errReply(line)
	}
	switch strings.ToUpper(f[1]) {
	case "OK":
		return true, nil
	case "BAD":
		return false, ErrNotOffered
	case "NO":
		return false, ErrRejected
	}
	return false, errReply(line)
}
