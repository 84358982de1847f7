package validity

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/keyaudit/keyaudit/store/records"
)

// clockSkew is how far in the future a thisUpdate may be.
const clockSkew = 5 * time.Minute

// reasons are the RFC 5280 §5.3.1 CRLReason names.
var reasons = map[int]string{0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged", 4: "superseded",
	5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise"}

func reasonName(code int) string {
	if n, ok := reasons[code]; ok {
		return n
	}
	return fmt.Sprintf("reason %d", code)
}

// verifyOCSP parses an OCSP response for leaf and checks it as a client
// must (RFC 6960 §3.2, §4.2.2.2): signed by the issuer itself or by a
// responder certificate the issuer signed with id-kp-OCSPSigning, valid
// now, thisUpdate not in the future and nextUpdate not past.
func verifyOCSP(der []byte, leaf, issuer *x509.Certificate, now time.Time) (*ocsp.Response, error) {
	if issuer == nil {
		return nil, errors.New("the leaf's issuer is unknown: the response cannot be verified")
	}
	resp, err := ocsp.ParseResponseForCert(der, leaf, nil)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("responder answered %s", re.Status)
		}
		return nil, fmt.Errorf("malformed response: %w", err)
	}
	signer := issuer
	if rc := resp.Certificate; rc != nil && !bytes.Equal(rc.Raw, issuer.Raw) {
		if err := rc.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("unauthorised responder %q: not issued by the leaf's issuer: %w", rc.Subject, err)
		}
		if !slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
			return nil, fmt.Errorf("unauthorised responder %q: no id-kp-OCSPSigning", rc.Subject)
		}
		if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
			return nil, fmt.Errorf("responder certificate %q is not valid at %s", rc.Subject, now.UTC().Format(time.RFC3339))
		}
		signer = rc
	}
	if err := resp.CheckSignatureFrom(signer); err != nil {
		return nil, fmt.Errorf("bad signature from %q: %w", signer.Subject, err)
	}
	if resp.ThisUpdate.After(now.Add(clockSkew)) {
		return nil, fmt.Errorf("thisUpdate %s is in the future", resp.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate) {
		return nil, fmt.Errorf("stale: nextUpdate %s has passed", resp.NextUpdate.UTC().Format(time.RFC3339))
	}
	return resp, nil
}

// ocspStatus turns a verified response into a record.
func ocspStatus(source, url string, resp *ocsp.Response) records.RevocationStatus {
	rs := records.RevocationStatus{Source: source, URL: url, ThisUpdate: resp.ThisUpdate, NextUpdate: resp.NextUpdate}
	switch resp.Status {
	case ocsp.Good:
		rs.Status = records.RevGood
	case ocsp.Revoked:
		rs.Status, rs.RevokedAt, rs.Reason = records.RevRevoked, resp.RevokedAt, reasonName(resp.RevocationReason)
	default:
		rs.Status, rs.Problem = records.RevUnknown, "the responder does not know the certificate (status unknown)"
	}
	return rs
}

func unknownStatus(source, url string, err error) records.RevocationStatus {
	return records.RevocationStatus{Source: source, URL: url, Status: records.RevUnknown, Problem: err.Error()}
}

// checkStaple verifies a stapled response.
func checkStaple(der []byte, leaf, issuer *x509.Certificate, now time.Time) records.RevocationStatus {
	resp, err := verifyOCSP(der, leaf, issuer, now)
	if err != nil {
		return unknownStatus(records.SourceStaple, "", err)
	}
	return ocspStatus(records.SourceStaple, "", resp)
}

// ocspCacheEntry is what the cache keeps of an OCSP answer.
type ocspCacheEntry struct {
	URL      string    `json:"url"`
	Response []byte    `json:"response"`
	Fetched  time.Time `json:"fetched"`
}

// checkOCSP asks the leaf's OCSP responder, unless a verified answer
// cached earlier is still before its nextUpdate. Only verified answers
// with a nextUpdate are cached.
func (c *Checker) checkOCSP(ctx context.Context, leaf, issuer *x509.Certificate, now time.Time) *records.RevocationStatus {
	if len(leaf.OCSPServer) == 0 {
		return nil
	}
	url := leaf.OCSPServer[0]
	key := "validity/ocsp/" + certSHA(leaf)
	if b, err := c.cache.Get(ctx, key); err == nil && b != nil {
		var e ocspCacheEntry
		if json.Unmarshal(b, &e) == nil && e.URL == url {
			if resp, err := verifyOCSP(e.Response, leaf, issuer, now); err == nil {
				rs := ocspStatus(records.SourceOCSP, url, resp)
				rs.Cached = true
				return &rs
			}
		}
	}
	if issuer == nil {
		rs := unknownStatus(records.SourceOCSP, url, errors.New("the leaf's issuer is unknown: no request can be made"))
		return &rs
	}
	req, err := ocsp.CreateRequest(leaf, issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		rs := unknownStatus(records.SourceOCSP, url, fmt.Errorf("build request: %w", err))
		return &rs
	}
	resp, err := c.fetch.Do(ctx, Request{URL: url, Method: "POST", Body: req, ContentType: "application/ocsp-request", Max: maxOCSPBytes})
	if err != nil {
		rs := unknownStatus(records.SourceOCSP, url, err)
		return &rs
	}
	or, err := verifyOCSP(resp.Body, leaf, issuer, now)
	if err != nil {
		rs := unknownStatus(records.SourceOCSP, url, err)
		return &rs
	}
	if !or.NextUpdate.IsZero() {
		b, _ := json.Marshal(ocspCacheEntry{URL: url, Response: resp.Body, Fetched: now})
		if err := c.cache.Put(ctx, key, b); err != nil {
			c.log.Warn("validity: cache OCSP response", "url", url, "err", err)
		}
	}
	rs := ocspStatus(records.SourceOCSP, url, or)
	return &rs
}
