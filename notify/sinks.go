package notify

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/procgroup"
	"github.com/keyaudit/keyaudit/internal/secretfile"
)

// DefaultTimeout bounds one delivery.
const DefaultTimeout = 30 * time.Second

// Limits on what a receiver may send back.
const (
	maxResponse   = 64 << 10
	maxHookOutput = 4096
	maxSecretFile = 4096
)

// Header names of webhook deliveries.
const (
	HeaderEvent       = "X-Keyaudit-Event"
	HeaderIdempotency = "X-Keyaudit-Idempotency-Key"
	HeaderTimestamp   = "X-Keyaudit-Timestamp"
	HeaderSignature   = "X-Keyaudit-Signature"
)

// Sign is the signature a webhook delivery carries: "v1=" and the hex
// HMAC-SHA256, keyed with the shared secret, of the timestamp (Unix
// seconds, also in X-Keyaudit-Timestamp), a dot and the body. Receivers
// recompute it, compare in constant time, and refuse a timestamp far
// from their clock, so a captured delivery cannot be replayed later.
func Sign(secret []byte, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%d.", timestamp)
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's signature and that its timestamp is within
// skew of now.
func Verify(secret []byte, header http.Header, body []byte, now time.Time, skew time.Duration) error {
	ts, err := strconv.ParseInt(header.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return errors.New("no timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > skew || d < -skew {
		return fmt.Errorf("timestamp %d is %v from now", ts, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(header.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return errors.New("bad signature")
	}
	return nil
}

// Deliverer sends notifications to their sinks. Secrets are read when a
// sink first needs them.
type Deliverer struct {
	Getenv  func(string) string
	Secrets secretfile.Policy
	// HTTPClient sends webhooks (nil: one with the sink's timeout and no
	// proxy from the environment).
	HTTPClient *http.Client
	// Dial opens SMTP connections (nil: a net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	Now  func() time.Time
}

func (d *Deliverer) getenv(k string) string {
	if d.Getenv == nil {
		return os.Getenv(k)
	}
	return d.Getenv(k)
}

func (d *Deliverer) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// secret reads a secret from its file or variable ("" when neither).
func (d *Deliverer) secret(what, file, env string) (string, error) {
	switch {
	case file != "":
		b, err := d.Secrets.ReadFile(what, file, maxSecretFile)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case env != "":
		v := d.getenv(env)
		if v == "" {
			return "", fmt.Errorf("%s: $%s is empty", what, env)
		}
		return v, nil
	}
	return "", nil
}

// Deliver sends one payload to sink s.
func (d *Deliverer) Deliver(ctx context.Context, s Sink, p Payload, raw []byte) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch s.Kind() {
	case "webhook":
		return d.webhook(ctx, s, p, raw, timeout)
	case "slack":
		b, _ := json.Marshal(map[string]string{"text": slackText(p)})
		return d.post(ctx, s.Slack, b, nil, timeout)
	case "smtp":
		return d.mail(ctx, s, p)
	case "exec":
		return d.exec(ctx, s, p, raw)
	}
	return errors.New("sink of no known kind")
}

func (d *Deliverer) webhook(ctx context.Context, s Sink, p Payload, raw []byte, timeout time.Duration) error {
	secret, err := d.secret("webhook secret", s.SecretFile, s.SecretEnv)
	if err != nil {
		return err
	}
	ts := d.now().Unix()
	h := http.Header{}
	h.Set(HeaderEvent, p.Event)
	h.Set(HeaderIdempotency, p.ID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if secret != "" {
		h.Set(HeaderSignature, Sign([]byte(secret), ts, raw))
	}
	return d.post(ctx, s.Webhook, raw, h, timeout)
}

func (d *Deliverer) post(ctx context.Context, url string, body []byte, h http.Header, timeout time.Duration) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "keyaudit")
	c := d.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, TLSHandshakeTimeout: 10 * time.Second},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", redactURL(url), err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", redactURL(url), resp.Status, firstLine(string(msg)))
	}
	return nil
}

// redactURL keeps a URL's scheme and host: an incoming-webhook URL's path
// is its secret.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			return u[:i+3+j] + "/…"
		}
	}
	return u
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func slackText(p Payload) string {
	var b strings.Builder
	b.WriteString(p.Summary())
	if p.Finding != nil {
		b.WriteString("\n" + p.Finding.Message)
		if p.Owner != nil {
			b.WriteString("\nowner: " + p.Owner.Name)
		}
		if p.Fix != "" {
			b.WriteString("\nfix: " + p.Fix)
		}
	}
	if p.Stage != nil && p.Stage.Note != "" {
		b.WriteString("\n" + p.Stage.Note)
	}
	if d := p.Digest; d != nil {
		fmt.Fprintf(&b, " (%s to %s)", d.From.UTC().Format(time.RFC3339), d.To.UTC().Format(time.RFC3339))
		for i, it := range d.Items {
			if i == maxDigestLines {
				fmt.Fprintf(&b, "\n… and %d more (keyaudit findings)", len(d.Items)-i)
				break
			}
			f := it.Finding
			fmt.Fprintf(&b, "\n- %s %s %s: %s", it.Event, f.Severity, f.Check, f.Subject)
			if f.Endpoint != "" {
				b.WriteString(" at " + f.Endpoint)
			}
		}
	}
	return b.String()
}

// mail sends p by SMTP, refusing a server that offers no STARTTLS.
func (d *Deliverer) mail(ctx context.Context, s Sink, p Payload) error {
	to := s.To
	if len(to) == 0 && p.Owner != nil {
		to = p.Owner.Contacts
	}
	if len(to) == 0 {
		return errors.New("no recipient: the sink has no to: and the owner no contacts")
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return fmt.Errorf("from: %w", err)
	}
	host, _, _ := net.SplitHostPort(s.SMTP)
	dial := d.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", s.SMTP)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.SMTP, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", s.SMTP, err)
	}
	defer c.Close()
	if err := c.Hello("keyaudit"); err != nil {
		return fmt.Errorf("smtp %s: EHLO: %w", s.SMTP, err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return fmt.Errorf("smtp %s offers no STARTTLS: not sending in the clear", s.SMTP)
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pemBytes, err := os.ReadFile(s.CAFile)
		if err != nil {
			return fmt.Errorf("smtp ca-file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pemBytes) {
			return fmt.Errorf("smtp ca-file %s: no certificate", s.CAFile)
		}
	}
	if err := c.StartTLS(tc); err != nil {
		return fmt.Errorf("smtp %s: STARTTLS: %w", s.SMTP, err)
	}
	if s.Username != "" {
		pw, err := d.secret("smtp password", s.PasswordFile, s.PasswordEnv)
		if err != nil {
			return err
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, pw, host)); err != nil {
			return fmt.Errorf("smtp %s: AUTH: %w", s.SMTP, err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", s.SMTP, err)
	}
	for _, t := range to {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return fmt.Errorf("recipient %q: %w", t, err)
		}
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("smtp %s: RCPT TO %s: %w", s.SMTP, a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", s.SMTP, err)
	}
	if _, err := w.Write(message(from, to, p, d.now())); err != nil {
		return fmt.Errorf("smtp %s: %w", s.SMTP, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: %w", s.SMTP, err)
	}
	return c.Quit()
}

// MessageID is the Message-ID of the e-mail of a payload: its
// idempotency key at the sender's domain, the same on every attempt.
func MessageID(p Payload, from *mail.Address) string {
	domain := "keyaudit.invalid"
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 {
		domain = from.Address[i+1:]
	}
	return "<" + p.ID + "@" + domain + ">"
}

func message(from *mail.Address, to []string, p Payload, now time.Time) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from.String())
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", p.Summary()))
	hdr("Date", now.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", MessageID(p, from))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	hdr("Auto-Submitted", "auto-generated")
	hdr(HeaderIdempotency, p.ID)
	b.WriteString("\r\n")
	body := slackText(p)
	if p.Finding != nil {
		f := p.Finding
		body += fmt.Sprintf("\n\ncheck: %s\nseverity: %s\nsubject: %s\n", f.Check, f.Severity, f.Subject)
		if f.Endpoint != "" {
			body += "endpoint: " + f.Endpoint + "\n"
		}
		if len(p.Contacts) > 0 {
			body += "CAA iodef contacts: " + strings.Join(p.Contacts, ", ") + "\n"
		}
		body += "fingerprint: " + p.Fingerprint + "\n"
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, ".") {
			line = "." + line
		}
		b.WriteString(line + "\r\n")
	}
	return b.Bytes()
}

// exec runs the sink's program with the event in its environment
// (KEYAUDIT_EVENT, KEYAUDIT_CHECK, KEYAUDIT_SEVERITY, KEYAUDIT_SUBJECT,
// KEYAUDIT_ENDPOINT, KEYAUDIT_OWNER, KEYAUDIT_FINGERPRINT,
// KEYAUDIT_MESSAGE, KEYAUDIT_SPKI_SHA256, KEYAUDIT_CERT_SHA256,
// KEYAUDIT_ROUTE, KEYAUDIT_ID, KEYAUDIT_STAGE) and the payload's JSON on
// stdin. Exit 0 is delivered; inherited KEYAUDIT_* variables are
// removed, so keyaudit's own secrets never reach it.
func (d *Deliverer) exec(ctx context.Context, s Sink, p Payload, raw []byte) error {
	cmd := exec.CommandContext(ctx, s.Exec[0], s.Exec[1:]...)
	procgroup.Set(cmd)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYAUDIT_") {
			env = append(env, kv)
		}
	}
	set := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	set("KEYAUDIT_EVENT", p.Event)
	set("KEYAUDIT_ROUTE", p.Route)
	set("KEYAUDIT_ID", p.ID)
	set("KEYAUDIT_FINGERPRINT", p.Fingerprint)
	if f := p.Finding; f != nil {
		set("KEYAUDIT_CHECK", f.Check)
		set("KEYAUDIT_SEVERITY", string(f.Severity))
		set("KEYAUDIT_SUBJECT", f.Subject)
		set("KEYAUDIT_ENDPOINT", f.Endpoint)
		set("KEYAUDIT_OWNER", f.Owner)
		set("KEYAUDIT_MESSAGE", f.Message)
		set("KEYAUDIT_SPKI_SHA256", f.SPKISHA256)
		set("KEYAUDIT_CERT_SHA256", f.CertSHA256)
	}
	if p.Stage != nil {
		set("KEYAUDIT_STAGE", p.Stage.Stage)
	}
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(raw)
	var out bytes.Buffer
	c := &capped{b: &out} // one writer: exec serialises stdout and stderr into it
	cmd.Stdout, cmd.Stderr = c, c
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("exec %s: %w: %s", s.Exec[0], err, firstLine(out.String()))
	}
	return nil
}

// capped keeps the first maxHookOutput bytes written to it.
type capped struct{ b *bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := maxHookOutput - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
