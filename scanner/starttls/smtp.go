package starttls

import (
	"io"
	"strconv"
	"strings"
)

// Reply is a parsed SMTP/FTP-style reply: a 3-digit code and its lines.
type Reply struct {
	Code  int
	Lines []string
}

// readReply reads one (possibly multi-line, "250-…" then "250 …") reply
// as in RFC 5321 §4.2 and RFC 959 §4.2 (whose multi-line replies may hold
// free text between the first and the last line).
func readReply(l *lineReader) (Reply, error) {
	var r Reply
	line, err := l.line()
	if err != nil {
		return r, err
	}
	code, more, text, err := ParseReplyLine(line)
	if err != nil {
		return r, err
	}
	r.Code, r.Lines = code, []string{text}
	for n := 1; more; n++ {
		if n >= maxReplyLines {
			return r, errReply("reply has more than " + strconv.Itoa(maxReplyLines) + " lines")
		}
		if line, err = l.line(); err != nil {
			return r, err
		}
		c, m, t, perr := ParseReplyLine(line)
		if perr != nil || c != r.Code {
			r.Lines = append(r.Lines, line)
			continue
		}
		r.Lines = append(r.Lines, t)
		more = m
	}
	return r, nil
}

// ParseReplyLine parses "250-text" or "250 text" (or a bare "250").
func ParseReplyLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 {
		return 0, false, "", errReply(line)
	}
	for i := 0; i < 3; i++ {
		if line[i] < '0' || line[i] > '9' {
			return 0, false, "", errReply(line)
		}
	}
	code, _ = strconv.Atoi(line[:3])
	if code < 100 || code > 599 {
		return 0, false, "", errReply(line)
	}
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, "", errReply(line)
	}
	return code, more, line[4:], nil
}

type replyError string

func (e replyError) Error() string { return "malformed reply " + strconv.Quote(printable(string(e))) }
func (e replyError) Unwrap() error { return ErrProtocol }

func errReply(s string) error { return replyError(s) }

// smtp implements RFC 3207: greeting, EHLO, check the STARTTLS keyword,
// STARTTLS, 220.
func smtp(rw io.ReadWriter, _ string) error {
	fail := func(step string, reply Reply, err error) error {
		return &Error{Protocol: "smtp", Step: step, Reply: printable(strings.Join(reply.Lines, " | ")), Err: err}
	}
	l := newLineReader(rw)
	greet, err := readReply(l)
	if err != nil {
		return fail("greeting", greet, err)
	}
	if greet.Code != 220 {
		return fail("greeting", greet, ErrRejected)
	}
	if err := write(rw, "EHLO keyaudit.invalid\r\n"); err != nil {
		return fail("EHLO", Reply{}, err)
	}
	ehlo, err := readReply(l)
	if err != nil {
		return fail("EHLO", ehlo, err)
	}
	if ehlo.Code != 250 {
		return fail("EHLO", ehlo, ErrRejected)
	}
	offered := false
	for _, ext := range ehlo.Lines[1:] {
		if f := strings.Fields(ext); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		return fail("EHLO", ehlo, ErrNotOffered)
	}
	if err := write(rw, "STARTTLS\r\n"); err != nil {
		return fail("STARTTLS", Reply{}, err)
	}
	st, err := readReply(l)
	if err != nil {
		return fail("STARTTLS", st, err)
	}
	if st.Code != 220 {
		return fail("STARTTLS", st, ErrRejected)
	}
	return nil
}
