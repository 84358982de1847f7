package validity

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/store/records"
)

// maxARIBytes caps an ACME directory or renewalInfo answer.
const maxARIBytes = 64 << 10

// ACMEDirectory maps issuers to the ACME directory that issued for them,
// whose renewalInfo (RFC 9773) says when their certificates should be
// renewed.
type ACMEDirectory struct {
	// URL is the ACME directory URL.
	URL string `yaml:"url" json:"url"`
	// Issuers match a leaf's issuer: each is a case-insensitive substring
	// of the issuer DN ("Let's Encrypt", "CN=R11,O=Let's Encrypt,C=US").
	Issuers []string `yaml:"issuers" json:"issuers"`
}

// Check rejects a directory without a URL or issuers.
func (d ACMEDirectory) Check() error {
	if !strings.HasPrefix(d.URL, "https://") && !strings.HasPrefix(d.URL, "http://") {
		return fmt.Errorf("acme directory %q: want an http(s) URL", d.URL)
	}
	if len(d.Issuers) == 0 {
		return fmt.Errorf("acme directory %s: no issuers mapped to it", d.URL)
	}
	return nil
}

func (d ACMEDirectory) matches(issuer string) bool {
	issuer = strings.ToLower(issuer)
	for _, i := range d.Issuers {
		if i != "" && strings.Contains(issuer, strings.ToLower(i)) {
			return true
		}
	}
	return false
}

// ARICertID is the RFC 9773 §4.1 certificate identifier: the base64url
// authority key identifier, a dot, the base64url DER serial number
// (content octets).
func ARICertID(c *x509.Certificate) (string, error) {
	if len(c.AuthorityKeyId) == 0 {
		return "", errors.New("no authority key identifier")
	}
	der, err := asn1.Marshal(c.SerialNumber)
	if err != nil {
		return "", fmt.Errorf("serial: %w", err)
	}
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(der, &raw); err != nil {
		return "", fmt.Errorf("serial: %w", err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(c.AuthorityKeyId) + "." + enc.EncodeToString(raw.Bytes), nil
}

// renewalInfo asks the ACME directory mapped to the leaf's issuer, if
// any, for its suggested renewal window.
func (c *Checker) renewalInfo(ctx context.Context, leaf *x509.Certificate) *records.RenewalInfo {
	var dir *ACMEDirectory
	for i := range c.cfg.ACME {
		if c.cfg.ACME[i].matches(leaf.Issuer.String()) {
			dir = &c.cfg.ACME[i]
			break
		}
	}
	if dir == nil {
		return nil
	}
	ri := &records.RenewalInfo{Directory: dir.URL}
	base, err := c.renewalInfoURL(ctx, dir.URL)
	if err != nil {
		ri.Problem = err.Error()
		return ri
	}
	id, err := ARICertID(leaf)
	if err != nil {
		ri.Problem = "renewalInfo: " + err.Error()
		return ri
	}
	resp, err := c.fetch.Do(ctx, Request{URL: strings.TrimSuffix(base, "/") + "/" + id, Max: maxARIBytes})
	if err != nil {
		ri.Problem = err.Error()
		return ri
	}
	var body struct {
		SuggestedWindow struct {
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		} `json:"suggestedWindow"`
		ExplanationURL string `json:"explanationURL"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		ri.Problem = fmt.Sprintf("renewalInfo: malformed answer: %v", err)
		return ri
	}
	w := body.SuggestedWindow
	if w.Start.IsZero() || w.End.IsZero() || w.End.Before(w.Start) {
		ri.Problem = "renewalInfo: no valid suggestedWindow"
		return ri
	}
	ri.WindowStart, ri.WindowEnd, ri.ExplanationURL = w.Start.UTC(), w.End.UTC(), body.ExplanationURL
	return ri
}

// renewalInfoURL reads the directory's renewalInfo URL, once per
// directory and Checker.
func (c *Checker) renewalInfoURL(ctx context.Context, dirURL string) (string, error) {
	c.mu.Lock()
	u, ok := c.ariBase[dirURL]
	c.mu.Unlock()
	if ok {
		return u, nil
	}
	resp, err := c.fetch.Do(ctx, Request{URL: dirURL, Max: maxARIBytes})
	if err != nil {
		return "", err
	}
	var d struct {
		RenewalInfo string `json:"renewalInfo"`
	}
	if err := json.Unmarshal(resp.Body, &d); err != nil {
		return "", fmt.Errorf("acme directory %s: %w", dirURL, err)
	}
	if d.RenewalInfo == "" {
		return "", fmt.Errorf("acme directory %s: no renewalInfo (the CA does not offer ARI)", dirURL)
	}
	c.mu.Lock()
	if c.ariBase == nil {
		c.ariBase = map[string]string{}
	}
	c.ariBase[dirURL] = d.RenewalInfo
	c.mu.Unlock()
	return d.RenewalInfo, nil
}
