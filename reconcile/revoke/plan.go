package revoke

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/internal/guard"
	"github.com/keyaudit/keyaudit/reconcile"
)

// PlanVersion is the plan file format version.
const PlanVersion = 1

// Executor names.
const (
	ExecutorACME = "acme"
	ExecutorHook = "hook"
)

// ACME authorisation methods (RFC 8555 §7.6): a JWS signed by the
// account that issued the certificate (kid), or by the certificate's own
// key (jwk).
const (
	AuthAccountKey     = "account-key"
	AuthCertificateKey = "certificate-key"
)

// DefaultRevocableChecks are the checks whose findings FromFindings turns
// into revocations unless told otherwise: a certificate nobody asked for,
// and a certificate whose key is weak or factorable.
var DefaultRevocableChecks = []string{"unauthorized-issuance", "weak-key"}

// Plan is a reviewed list of revocations. Everything in it is covered by
// Hash; an approval binds to that hash.
type Plan struct {
	Version   int       `json:"version"`
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
	// Source says where the actions came from: "findings of run 12",
	// "certificates".
	Source  string    `json:"source"`
	Note    string    `json:"note,omitempty"`
	Actions []Action  `json:"actions"`
	Skipped []Skipped `json:"skipped,omitempty"`
	// Hash is the hex SHA-256 of the plan's canonical JSON with Hash
	// empty. It is informational in the file: what counts is the hash
	// computed from the content (ComputeHash).
	Hash string `json:"hash"`
}

// Action is one planned revocation.
type Action struct {
	Certificate CertRef `json:"certificate"`
	Reason      Reason  `json:"reason"`
	// Findings justify the action; empty when the certificate was named
	// explicitly (Plan.Source says so).
	Findings []FindingRef `json:"findings,omitempty"`
	// Executor is acme or hook.
	Executor string `json:"executor"`
	// Auth is the ACME authorisation method (account-key or
	// certificate-key); empty for the hook.
	Auth string `json:"auth,omitempty"`
	// Directory is the ACME directory URL the revocation goes to, when
	// fixed at plan time; execution refuses another.
	Directory string `json:"directory,omitempty"`
	// CA is the issuer the revocation is asked of.
	CA string `json:"ca"`
}

// CertRef identifies the certificate to revoke. PEM is what is sent; the
// other fields repeat what it says for reviewers, and Validate checks
// they agree.
type CertRef struct {
	SHA256     string    `json:"sha256"`
	SPKISHA256 string    `json:"spki_sha256"`
	Serial     string    `json:"serial"`
	Issuer     string    `json:"issuer"`
	Subject    string    `json:"subject"`
	Names      []string  `json:"names"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	PEM        string    `json:"pem"`
}

// FindingRef is the part of a finding a reviewer needs.
type FindingRef struct {
	RunID       int64              `json:"run_id,omitempty"`
	Check       string             `json:"check"`
	Severity    reconcile.Severity `json:"severity"`
	Fingerprint string             `json:"fingerprint"`
	Subject     string             `json:"subject"`
	Endpoint    string             `json:"endpoint,omitempty"`
	Message     string             `json:"message"`
	// MatchedBy says how the certificate was matched to the finding:
	// cert_sha256, or spki_sha256 for a finding about a precertificate.
	MatchedBy string `json:"matched_by"`
}

// Skipped is a revocable finding the plan could not act on.
type Skipped struct {
	CertSHA256 string       `json:"cert_sha256"`
	Why        string       `json:"why"`
	Findings   []FindingRef `json:"findings"`
}

// PlanOptions are the choices a plan is built with.
type PlanOptions struct {
	Reason    Reason
	Executor  string // default acme
	Auth      string // default account-key for acme
	Directory string // optional ACME directory URL
	CreatedBy string
	Note      string
	Now       time.Time
	// Checks are the revocable checks (FromFindings); default
	// DefaultRevocableChecks.
	Checks []string
}

func (o *PlanOptions) defaults() error {
	if err := o.Reason.valid(); err != nil {
		return err
	}
	if o.Executor == "" {
		o.Executor = ExecutorACME
	}
	switch o.Executor {
	case ExecutorACME:
		if o.Auth == "" {
			o.Auth = AuthAccountKey
		}
		if o.Auth != AuthAccountKey && o.Auth != AuthCertificateKey {
			return fmt.Errorf("unknown ACME authorisation %q (want %s or %s)", o.Auth, AuthAccountKey, AuthCertificateKey)
		}
	case ExecutorHook:
		if o.Auth != "" {
			return fmt.Errorf("the hook executor takes no ACME authorisation (got %q)", o.Auth)
		}
		if o.Directory != "" {
			return errors.New("the hook executor takes no ACME directory")
		}
	default:
		return fmt.Errorf("unknown executor %q (want %s or %s)", o.Executor, ExecutorACME, ExecutorHook)
	}
	if strings.TrimSpace(o.CreatedBy) == "" {
		return errors.New("a plan needs its creator's identity")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if len(o.Checks) == 0 {
		o.Checks = DefaultRevocableChecks
	}
	return nil
}

// Certificate is a parsed certificate to plan for.
type Certificate struct {
	DER  []byte
	Info certinfo.Cert
	x    *x509.Certificate
}

// ParseCertificates reads every CERTIFICATE block of a PEM input (or one
// DER certificate).
func ParseCertificates(b []byte) ([]Certificate, error) {
	var out []Certificate
	rest := b
	sawPEM := false
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		sawPEM = true
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := parseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if !sawPEM {
		c, err := parseCertificate(b)
		if err != nil {
			return nil, fmt.Errorf("neither PEM nor a DER certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no CERTIFICATE block")
	}
	return out, nil
}

// IsCA says whether c is a CA certificate, such as the intermediate of a
// chain file.
func (c Certificate) IsCA() bool { return c.x != nil && c.x.BasicConstraintsValid && c.x.IsCA }

func parseCertificate(der []byte) (Certificate, error) {
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return Certificate{}, fmt.Errorf("parse certificate: %w", err)
	}
	return Certificate{DER: der, Info: certinfo.ParseX509(x), x: x}, nil
}

func (c Certificate) ref() CertRef {
	names := certinfo.Names(c.Info, c.x.Subject.CommonName)
	return CertRef{
		SHA256: c.Info.SHA256, SPKISHA256: c.Info.SPKISHA256, Serial: c.Info.Serial,
		Issuer: c.Info.Issuer, Subject: c.Info.Subject, Names: names,
		NotBefore: c.Info.NotBefore, NotAfter: c.Info.NotAfter,
		PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})),
	}
}

func newPlanID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "rp-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func newPlan(o PlanOptions, source string) *Plan {
	now := o.Now.UTC().Truncate(time.Second)
	return &Plan{Version: PlanVersion, ID: newPlanID(now), Created: now, CreatedBy: o.CreatedBy, Source: source, Note: o.Note, Actions: []Action{}}
}

func (o PlanOptions) action(c Certificate) Action {
	return Action{Certificate: c.ref(), Reason: o.Reason, Executor: o.Executor, Auth: o.Auth, Directory: o.Directory, CA: c.Info.Issuer}
}

// FromCertificates plans the revocation of certificates named explicitly
// by the operator.
func FromCertificates(certs []Certificate, o PlanOptions) (*Plan, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate to revoke")
	}
	p := newPlan(o, "certificates")
	seen := map[string]bool{}
	for _, c := range certs {
		if seen[c.Info.SHA256] {
			continue
		}
		seen[c.Info.SHA256] = true
		p.Actions = append(p.Actions, o.action(c))
	}
	p.Hash = p.ComputeHash()
	return p, nil
}

// FromFindings plans the revocation of the certificates that revocable
// findings of reconcile run runID are about. Findings carry no
// certificate bytes, so certs supplies them; a revocable finding whose
// certificate is not supplied is listed in Plan.Skipped. A supplied
// certificate no revocable finding is about is an error (plan it on its
// own, explicitly). A finding about a precertificate matches the final
// certificate with the same key.
func FromFindings(runID int64, findings []reconcile.Finding, certs []Certificate, o PlanOptions) (*Plan, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	p := newPlan(o, fmt.Sprintf("findings of reconcile run %d", runID))
	byCert := map[string]Certificate{}
	bySPKI := map[string][]Certificate{}
	for _, c := range certs {
		byCert[c.Info.SHA256] = c
		bySPKI[c.Info.SPKISHA256] = append(bySPKI[c.Info.SPKISHA256], c)
	}
	used := map[string]bool{}
	actionOf := map[string]int{}
	skippedOf := map[string]int{}
	for _, f := range findings {
		if f.Suppressed || f.CertSHA256 == "" || !slices.Contains(o.Checks, f.Check) {
			continue
		}
		ref := FindingRef{RunID: runID, Check: f.Check, Severity: f.Severity, Fingerprint: f.Fingerprint(), Subject: f.Subject, Endpoint: f.Endpoint, Message: f.Message}
		var matched []Certificate
		if c, ok := byCert[f.CertSHA256]; ok {
			ref.MatchedBy = "cert_sha256"
			matched = []Certificate{c}
		} else if precert, _ := f.Evidence["precert"].(bool); precert && f.SPKISHA256 != "" {
			ref.MatchedBy = "spki_sha256"
			matched = bySPKI[f.SPKISHA256]
		}
		if len(matched) == 0 {
			i, ok := skippedOf[f.CertSHA256]
			if !ok {
				i = len(p.Skipped)
				skippedOf[f.CertSHA256] = i
				p.Skipped = append(p.Skipped, Skipped{CertSHA256: f.CertSHA256, Why: "certificate not supplied (keyaudit keeps fingerprints, not certificates: pass it with --cert)"})
			}
			p.Skipped[i].Findings = append(p.Skipped[i].Findings, ref)
			continue
		}
		for _, c := range matched {
			used[c.Info.SHA256] = true
			i, ok := actionOf[c.Info.SHA256]
			if !ok {
				i = len(p.Actions)
				actionOf[c.Info.SHA256] = i
				p.Actions = append(p.Actions, o.action(c))
			}
			p.Actions[i].Findings = append(p.Actions[i].Findings, ref)
		}
	}
	for _, c := range certs {
		if !used[c.Info.SHA256] {
			return nil, fmt.Errorf("certificate %s (serial %s, %s) is the subject of no revocable finding (%s) in run %d: plan it explicitly, without --from-findings",
				c.Info.SHA256[:16], c.Info.Serial, strings.Join(c.ref().Names, ", "), strings.Join(o.Checks, ", "), runID)
		}
	}
	p.Hash = p.ComputeHash()
	return p, nil
}

// ACMEDirectory is the ACME directory URL the plan's ACME actions name,
// when they all name the same one.
func (p *Plan) ACMEDirectory() string {
	dir := ""
	for _, act := range p.Actions {
		if act.Executor != ExecutorACME {
			continue
		}
		if act.Directory == "" || (dir != "" && act.Directory != dir) {
			return ""
		}
		dir = act.Directory
	}
	return dir
}

// ComputeHash is the hex SHA-256 of the plan's canonical JSON (the plan
// encoded by encoding/json with Hash empty).
func (p *Plan) ComputeHash() string {
	q := *p
	q.Hash = ""
	return guard.Hash(q)
}

// PlanID, StatedHash and Creator let the guarded-action trail read the
// plan (guard.Plan).
func (p *Plan) PlanID() string     { return p.ID }
func (p *Plan) StatedHash() string { return p.Hash }
func (p *Plan) Creator() string    { return p.CreatedBy }

// NormalizeHash accepts "sha256:HEX" or "HEX" in any case.
func NormalizeHash(h string) string { return guard.NormalizeHash(h) }

// ShortHash is the first 16 hex digits, for messages.
func ShortHash(h string) string { return guard.ShortHash(h) }

// Validate checks that the plan is well formed and that every action's
// descriptive fields agree with its certificate.
func (p *Plan) Validate() error {
	if p.Version != PlanVersion {
		return fmt.Errorf("plan version %d, want %d", p.Version, PlanVersion)
	}
	if !strings.HasPrefix(p.ID, "rp-") {
		return fmt.Errorf("plan ID %q is not a keyaudit plan ID", p.ID)
	}
	if strings.TrimSpace(p.CreatedBy) == "" {
		return errors.New("plan has no creator")
	}
	seen := map[string]bool{}
	for i, a := range p.Actions {
		if err := a.validate(); err != nil {
			return fmt.Errorf("plan %s action %d: %w", p.ID, i+1, err)
		}
		if seen[a.Certificate.SHA256] {
			return fmt.Errorf("plan %s action %d: certificate %s planned twice", p.ID, i+1, ShortHash(a.Certificate.SHA256))
		}
		seen[a.Certificate.SHA256] = true
	}
	return nil
}

func (a Action) validate() error {
	if err := a.Reason.valid(); err != nil {
		return err
	}
	switch a.Executor {
	case ExecutorACME:
		if a.Auth != AuthAccountKey && a.Auth != AuthCertificateKey {
			return fmt.Errorf("ACME authorisation %q (want %s or %s)", a.Auth, AuthAccountKey, AuthCertificateKey)
		}
	case ExecutorHook:
		if a.Auth != "" || a.Directory != "" {
			return errors.New("hook action with ACME fields")
		}
	default:
		return fmt.Errorf("unknown executor %q", a.Executor)
	}
	c, err := a.Certificate.parse()
	if err != nil {
		return err
	}
	want := c.ref()
	got := a.Certificate
	if got.SHA256 != want.SHA256 || got.SPKISHA256 != want.SPKISHA256 || got.Serial != want.Serial || got.Issuer != want.Issuer ||
		got.Subject != want.Subject || !slices.Equal(got.Names, want.Names) || !got.NotAfter.Equal(want.NotAfter) || !got.NotBefore.Equal(want.NotBefore) {
		return fmt.Errorf("certificate fields do not match its PEM (sha256 %s, serial %s): the plan was edited", ShortHash(want.SHA256), want.Serial)
	}
	if a.CA != want.Issuer {
		return fmt.Errorf("CA %q is not the certificate's issuer %q", a.CA, want.Issuer)
	}
	return nil
}

// DER returns the certificate's DER bytes.
func (c CertRef) DER() ([]byte, error) {
	blk, rest := pem.Decode([]byte(c.PEM))
	if blk == nil || blk.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("certificate PEM is not exactly one CERTIFICATE block")
	}
	return blk.Bytes, nil
}

func (c CertRef) parse() (Certificate, error) {
	der, err := c.DER()
	if err != nil {
		return Certificate{}, err
	}
	return parseCertificate(der)
}

// Certificate returns the parsed certificate.
func (c CertRef) Certificate() (*x509.Certificate, error) {
	pc, err := c.parse()
	if err != nil {
		return nil, err
	}
	return pc.x, nil
}

// Marshal encodes the plan as indented JSON, for files and review.
func (p *Plan) Marshal() ([]byte, error) { return guard.Marshal(p) }

// WriteFile writes the plan to path (guard.WriteFile).
func (p *Plan) WriteFile(path string) error { return guard.WriteFile(path, p) }

// ReadPlan decodes a plan strictly: unknown fields and trailing data are
// errors.
func ReadPlan(r io.Reader) (*Plan, error) { return normal(guard.Decode[Plan](r)) }

// ReadPlanFile reads a plan file.
func ReadPlanFile(path string) (*Plan, error) { return normal(guard.ReadFile[Plan](path)) }

// normal gives a plan read without actions an empty list of them.
func normal(p *Plan, err error) (*Plan, error) {
	if p != nil && p.Actions == nil {
		p.Actions = []Action{}
	}
	return p, err
}
