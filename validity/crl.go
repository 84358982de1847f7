package validity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/store/records"
)

// crlCacheEntry is what the cache keeps of a CRL: the DER and the
// validators of a conditional GET.
type crlCacheEntry struct {
	URL          string    `json:"url"`
	DER          []byte    `json:"der"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	Fetched      time.Time `json:"fetched"`
}

// crlURL is the leaf's first http(s) CRL distribution point.
func crlURL(leaf *x509.Certificate) string {
	for _, u := range leaf.CRLDistributionPoints {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			return u
		}
	}
	return ""
}

// verifyCRL parses a CRL and checks it was issued and signed by issuer and
// is current.
func verifyCRL(der []byte, issuer *x509.Certificate, now time.Time) (*x509.RevocationList, error) {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("malformed CRL: %w", err)
	}
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return nil, fmt.Errorf("CRL issued by %q, not the leaf's issuer %q", crl.Issuer, issuer.Subject)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("bad CRL signature: %w", err)
	}
	if crl.ThisUpdate.After(now.Add(clockSkew)) {
		return nil, fmt.Errorf("CRL thisUpdate %s is in the future", crl.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
		return nil, fmt.Errorf("stale CRL: nextUpdate %s has passed", crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	return crl, nil
}

func crlStatus(url string, crl *x509.RevocationList, leaf *x509.Certificate) records.RevocationStatus {
	rs := records.RevocationStatus{Source: records.SourceCRL, URL: url, Status: records.RevGood, ThisUpdate: crl.ThisUpdate, NextUpdate: crl.NextUpdate}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			rs.Status, rs.RevokedAt, rs.Reason = records.RevRevoked, e.RevocationTime, reasonName(e.ReasonCode)
			break
		}
	}
	return rs
}

// checkCRL reads the leaf's CRL: from the cache while before its
// nextUpdate, else by a conditional GET (the cached copy kept on 304).
func (c *Checker) checkCRL(ctx context.Context, leaf, issuer *x509.Certificate, now time.Time) *records.RevocationStatus {
	url := crlURL(leaf)
	if url == "" {
		return nil
	}
	fail := func(err error) *records.RevocationStatus {
		rs := unknownStatus(records.SourceCRL, url, err)
		return &rs
	}
	if issuer == nil {
		return fail(errors.New("the leaf's issuer is unknown: the CRL cannot be verified"))
	}
	sum := sha256.Sum256([]byte(url)) // the URL is the certificate's: any length
	key := "validity/crl/" + hex.EncodeToString(sum[:16])
	var cached *crlCacheEntry
	if b, err := c.cache.Get(ctx, key); err == nil && b != nil {
		var e crlCacheEntry
		if json.Unmarshal(b, &e) == nil && e.URL == url {
			cached = &e
			if crl, err := verifyCRL(e.DER, issuer, now); err == nil {
				rs := crlStatus(url, crl, leaf)
				rs.Cached = true
				return &rs
			}
		}
	}
	req := Request{URL: url, Max: c.fetch.MaxCRLBytes()}
	if cached != nil {
		req.IfNoneMatch, req.IfModifiedSince = cached.ETag, cached.LastModified
	}
	resp, err := c.fetch.Do(ctx, req)
	if err != nil {
		return fail(err)
	}
	entry := crlCacheEntry{URL: url, DER: resp.Body, ETag: resp.ETag, LastModified: resp.LastModified, Fetched: now}
	if resp.Status == http.StatusNotModified && cached != nil {
		entry.DER = cached.DER
	}
	crl, err := verifyCRL(entry.DER, issuer, now)
	if err != nil {
		return fail(err)
	}
	if b, err := json.Marshal(entry); err == nil {
		if err := c.cache.Put(ctx, key, b); err != nil {
			c.log.Warn("validity: cache CRL", "url", url, "err", err)
		}
	}
	rs := crlStatus(url, crl, leaf)
	return &rs
}
