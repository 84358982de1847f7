package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Severity ranks findings.
type Severity string

// Severities, most severe first.
const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
	Info     Severity = "info"
)

// Severities lists every severity, most severe first.
var Severities = []Severity{Critical, High, Medium, Low, Info}

// Rank is 4 for critical down to 0 for info; -1 for unknown.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 4
	case High:
		return 3
	case Medium:
		return 2
	case Low:
		return 1
	case Info:
		return 0
	}
	return -1
}

// AtLeast reports whether s is as severe as t or more.
func (s Severity) AtLeast(t Severity) bool { return s.Rank() >= t.Rank() }

// ParseSeverity parses a severity name ("none" means nothing fails).
func ParseSeverity(s string) (Severity, error) {
	v := Severity(strings.ToLower(strings.TrimSpace(s)))
	if v.Rank() < 0 {
		return "", fmt.Errorf("unknown severity %q (want critical, high, medium, low or info)", s)
	}
	return v, nil
}

// Finding is one problem found, in the output contract's shape.
type Finding struct {
	Check      string    `json:"check"`
	Severity   Severity  `json:"severity"`
	Subject    string    `json:"subject"` // what the finding is about: a name, a certificate subject, a key label
	SPKISHA256 string    `json:"spki_sha256"`
	CertSHA256 string    `json:"cert_sha256"`
	Endpoint   string    `json:"endpoint"`
	Message    string    `json:"message"`
	Controls   []string  `json:"controls"`
	FirstSeen  time.Time `json:"first_seen"`
	Suppressed bool      `json:"suppressed"`
	// SuppressedBy is the reason of the suppression that matched.
	SuppressedBy string `json:"suppressed_by,omitempty"`
	// Evidence holds the facts behind the finding (dates, issuers, CAA
	// records, log heads), for reports and reviewers.
	Evidence map[string]any `json:"evidence,omitempty"`
	// Source locates the finding in an input: an inventory file, a
	// config line ("path:line"), a CT log entry.
	Source string `json:"source,omitempty"`
	// Owner is the team the finding belongs to: the owner inventory
	// metadata gives its key, else the config's owners by domain,
	// address, source or label (package notify).
	Owner string `json:"owner,omitempty"`
}

// Fingerprint identifies a finding across runs: the same check about the
// same thing. It is stable for SARIF partialFingerprints and drift.
func (f Finding) Fingerprint() string {
	h := sha256.Sum256([]byte(strings.Join([]string{f.Check, f.Subject, f.SPKISHA256, f.CertSHA256, f.Endpoint}, "\x00")))
	return hex.EncodeToString(h[:16])
}

// Threshold is a --fail-on setting: a severity, or none (nothing fails).
type Threshold struct {
	sev  Severity
	none bool
}

// ParseThreshold parses a --fail-on value: a severity name or "none".
func ParseThreshold(s string) (Threshold, error) {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return Threshold{none: true}, nil
	}
	sev, err := ParseSeverity(s)
	if err != nil {
		return Threshold{}, err
	}
	return Threshold{sev: sev}, nil
}

// Exceeded reports whether an unsuppressed finding is at or above t.
func (t Threshold) Exceeded(fs []Finding) bool {
	if t.none || t.sev == "" {
		return false
	}
	for _, f := range fs {
		if !f.Suppressed && f.Severity.AtLeast(t.sev) {
			return true
		}
	}
	return false
}

// Severity is the threshold's severity, or "none" when nothing fails (the
// value of reports.FailNone).
func (t Threshold) Severity() Severity {
	if t.none {
		return "none"
	}
	return t.sev
}

// String returns the setting as parsed.
func (t Threshold) String() string {
	if t.none {
		return "none"
	}
	return string(t.sev)
}
