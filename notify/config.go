package notify

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
)

// Owner is a team (in a business unit) and what it owns.
type Owner struct {
	Name         string   `yaml:"name" json:"name"`
	BusinessUnit string   `yaml:"business-unit" json:"business_unit,omitempty"`
	Contacts     []string `yaml:"contacts" json:"contacts,omitempty"` // e-mail addresses
	// Domains are names with their subdomains ("example.com" owns
	// www.example.com).
	Domains []string `yaml:"domains" json:"-"`
	// CIDRs own the endpoints whose address they contain.
	CIDRs []string `yaml:"cidrs" json:"-"`
	// Sources are inventory source names (globs: "pkcs11:token=web*").
	Sources []string `yaml:"sources" json:"-"`
	// Labels are key labels (globs: "payments-*").
	Labels []string `yaml:"labels" json:"-"`

	nets []*net.IPNet
}

// Events a route may ask for.
const (
	EventOpened      = reconcile.EventOpened
	EventReopened    = reconcile.EventReopened
	EventEscalated   = reconcile.EventEscalated
	EventResolved    = reconcile.EventResolved
	EventStageFailed = "stage-failed"
	EventTest        = "test"
)

// DefaultEvents are the events a route sends when it names none.
var DefaultEvents = []string{EventOpened, EventReopened, EventEscalated, EventStageFailed}

// Route sends matching events to sinks.
type Route struct {
	Name string `yaml:"name"`
	// Owners, Checks and Domains restrict the route (empty: any). An
	// owner "-" matches findings without an owner.
	Owners  []string `yaml:"owners"`
	Checks  []string `yaml:"checks"`
	Domains []string `yaml:"domains"`
	// Severity is the lowest severity sent (default: info, everything).
	Severity string `yaml:"severity"`
	// Events (default DefaultEvents; add "resolved" to hear of fixes).
	Events []string `yaml:"events"`
	Sinks  []string `yaml:"sinks"`
	// Digest "daily" sends, instead of one message per finding event,
	// one message per owner a day with the day's events, at DigestAt
	// (HH:MM UTC, default 08:00). Stage failures are still sent at once.
	Digest   string `yaml:"digest"`
	DigestAt string `yaml:"digest-at"`
}

// digestTime is the time of day (since midnight UTC) of a daily digest.
func (r Route) digestTime() (time.Duration, error) {
	at := r.DigestAt
	if at == "" {
		at = "08:00"
	}
	t, err := time.Parse("15:04", at)
	if err != nil {
		return 0, fmt.Errorf("digest-at %q: want HH:MM (UTC)", at)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Sink is one destination; exactly one of Webhook, Slack, SMTP and Exec
// is set.
type Sink struct {
	Webhook string `yaml:"webhook"`
	Slack   string `yaml:"slack"`
	SMTP    string `yaml:"smtp"` // host:port
	// Exec is a program and its arguments (no shell).
	Exec []string `yaml:"exec"`

	// SecretFile / SecretEnv hold the webhook signing secret.
	SecretFile string `yaml:"secret-file"`
	SecretEnv  string `yaml:"secret-env"`
	// E-mail: From, To (default: the owner's contacts), SMTP AUTH
	// username with its password from PasswordFile or PasswordEnv, and a
	// CA file for the server's certificate (default: system roots).
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password-file"`
	PasswordEnv  string   `yaml:"password-env"`
	CAFile       string   `yaml:"ca-file"`
	// Timeout bounds one delivery (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// Kind names the sink's kind.
func (s Sink) Kind() string {
	switch {
	case s.Webhook != "":
		return "webhook"
	case s.Slack != "":
		return "slack"
	case s.SMTP != "":
		return "smtp"
	case len(s.Exec) > 0:
		return "exec"
	}
	return ""
}

// Config is the "notify:" section.
type Config struct {
	Sinks  map[string]Sink `yaml:"sinks"`
	Routes []Route         `yaml:"routes"`
	// MaxAttempts is how many failed attempts make a notification
	// reported by notification-failed (default 5); it is still retried.
	MaxAttempts int `yaml:"max-attempts"`
	// Lease is how long a sender holds a notification it is sending
	// before another sender may take it over (default DefaultLease): longer
	// than any sink's timeout, or a slow delivery could be sent twice; as
	// short as that, because a sender that dies holds its notification
	// that long.
	Lease time.Duration `yaml:"lease"`
}

// DefaultMaxAttempts is Config.MaxAttempts's default.
const DefaultMaxAttempts = 5

// Check validates the owners.
func CheckOwners(owners []Owner) error {
	seen := map[string]bool{}
	for i := range owners {
		o := &owners[i]
		if strings.TrimSpace(o.Name) == "" || o.Name == "-" {
			return fmt.Errorf("owners[%d]: a name is required", i)
		}
		if seen[o.Name] {
			return fmt.Errorf("owners[%d]: %q named twice", i, o.Name)
		}
		seen[o.Name] = true
		for _, c := range o.Contacts {
			if _, err := mail.ParseAddress(c); err != nil {
				return fmt.Errorf("owners[%d] %s: contact %q: %w", i, o.Name, c, err)
			}
		}
		for _, g := range append(append([]string{}, o.Sources...), o.Labels...) {
			if _, err := path.Match(g, ""); err != nil {
				return fmt.Errorf("owners[%d] %s: pattern %q: %w", i, o.Name, g, err)
			}
		}
		o.nets = nil
		for _, c := range o.CIDRs {
			_, n, err := net.ParseCIDR(c)
			if err != nil {
				return fmt.Errorf("owners[%d] %s: %w", i, o.Name, err)
			}
			o.nets = append(o.nets, n)
		}
	}
	return nil
}

// Check validates the section against the owners it names.
func (c *Config) Check(owners []Owner) error {
	if c.MaxAttempts < 0 {
		return errors.New("notify: max-attempts must not be negative")
	}
	if c.Lease < 0 {
		return errors.New("notify: lease must not be negative")
	}
	for name, s := range c.Sinks {
		if to := s.Timeout; c.Lease > 0 && (to == 0 && c.Lease <= DefaultTimeout || to > 0 && c.Lease <= to) {
			return fmt.Errorf("notify: lease %v is not longer than sink %s's timeout: a slow delivery could be sent twice", c.Lease, name)
		}
	}
	known := map[string]bool{"-": true}
	for _, o := range owners {
		known[o.Name] = true
	}
	for name, s := range c.Sinks {
		if err := s.check(); err != nil {
			return fmt.Errorf("notify.sinks.%s: %w", name, err)
		}
	}
	seen := map[string]bool{}
	for i, r := range c.Routes {
		where := fmt.Sprintf("notify.routes[%d]", i)
		if r.Name == "" {
			return fmt.Errorf("%s: a name is required", where)
		}
		if seen[r.Name] {
			return fmt.Errorf("%s: route %q named twice", where, r.Name)
		}
		seen[r.Name] = true
		if len(r.Sinks) == 0 {
			return fmt.Errorf("%s %s: no sinks", where, r.Name)
		}
		for _, s := range r.Sinks {
			if _, ok := c.Sinks[s]; !ok {
				return fmt.Errorf("%s %s: no sink named %q under notify.sinks", where, r.Name, s)
			}
		}
		for _, o := range r.Owners {
			if !known[o] {
				return fmt.Errorf("%s %s: no owner named %q under owners", where, r.Name, o)
			}
		}
		for _, ch := range r.Checks {
			if _, ok := reconcile.Lookup(ch); !ok {
				return fmt.Errorf("%s %s: no check %q (see keyaudit checks list)", where, r.Name, ch)
			}
		}
		if r.Severity != "" {
			if _, err := reconcile.ParseSeverity(r.Severity); err != nil {
				return fmt.Errorf("%s %s: %w", where, r.Name, err)
			}
		}
		for _, e := range r.Events {
			if !slices.Contains([]string{EventOpened, EventReopened, EventEscalated, EventResolved, EventStageFailed}, e) {
				return fmt.Errorf("%s %s: unknown event %q", where, r.Name, e)
			}
		}
		switch r.Digest {
		case "":
			if r.DigestAt != "" {
				return fmt.Errorf("%s %s: digest-at without digest: daily", where, r.Name)
			}
		case "daily":
			if _, err := r.digestTime(); err != nil {
				return fmt.Errorf("%s %s: %w", where, r.Name, err)
			}
		default:
			return fmt.Errorf("%s %s: digest %q (want daily)", where, r.Name, r.Digest)
		}
	}
	return nil
}

func (s Sink) check() error {
	n := 0
	for _, set := range []bool{s.Webhook != "", s.Slack != "", s.SMTP != "", len(s.Exec) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of webhook, slack, smtp and exec")
	}
	for _, u := range []string{s.Webhook, s.Slack} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("%q is not an http(s) URL", u)
		}
		if p.User != nil {
			return errors.New("credentials in a webhook URL: use secret-file or secret-env")
		}
	}
	if s.SMTP != "" {
		if _, _, err := net.SplitHostPort(s.SMTP); err != nil {
			return fmt.Errorf("smtp %q: want host:port", s.SMTP)
		}
		if _, err := mail.ParseAddress(s.From); err != nil {
			return fmt.Errorf("from %q: %w", s.From, err)
		}
		for _, t := range s.To {
			if _, err := mail.ParseAddress(t); err != nil {
				return fmt.Errorf("to %q: %w", t, err)
			}
		}
		if s.Username != "" && s.PasswordFile == "" && s.PasswordEnv == "" {
			return errors.New("username without password-file or password-env")
		}
	}
	if s.SecretFile != "" && s.SecretEnv != "" {
		return errors.New("give secret-file or secret-env, not both")
	}
	if (s.SecretFile != "" || s.SecretEnv != "") && s.Webhook == "" {
		return errors.New("a signing secret is for webhooks only")
	}
	if s.Timeout < 0 {
		return errors.New("negative timeout")
	}
	return nil
}
