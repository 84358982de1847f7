package validity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/store/records"
)

// maxAIAHops bounds how many intermediates are fetched through caIssuers
// to complete one chain.
const maxAIAHops = 3

func certSHA(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// chainResult is what chain building learnt: the status for the record
// and the leaf's issuer (nil when none was found) for revocation checks.
type chainResult struct {
	status records.ChainStatus
	issuer *x509.Certificate
}

// checkChain builds served (leaf first) to the roots at now. When the
// served certificates do not reach a root, the intermediates the topmost
// one names in AIA caIssuers are fetched (within scope): a chain that then
// verifies is incomplete, one that still does not is untrusted.
func (c *Checker) checkChain(ctx context.Context, served []*x509.Certificate, now time.Time) chainResult {
	leaf := served[0]
	var st records.ChainStatus
	inter := x509.NewCertPool()
	for _, s := range served[1:] {
		inter.AddCert(s)
		if s.IsCA && now.After(s.NotAfter) {
			st.ExpiredIntermediates = append(st.ExpiredIntermediates, records.ExpiredCert{Subject: s.Subject.String(), SHA256: certSHA(s), NotAfter: s.NotAfter})
		}
	}
	verify := func(at time.Time) ([][]*x509.Certificate, error) {
		return leaf.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	}
	at := now
	chains, err := verify(at)
	var inv x509.CertificateInvalidError
	if err != nil && errors.As(err, &inv) && inv.Reason == x509.Expired {
		// An expired leaf is the expiry checks' business and an expired
		// intermediate is its own finding: judge trust at a time every
		// served certificate was valid.
		for _, s := range served {
			if s.NotAfter.Before(at) {
				at = s.NotAfter.Add(-time.Second)
			}
		}
		chains, err = verify(at)
	}
	if err != nil && len(served) > 1 && (now.After(leaf.NotAfter) || now.Before(leaf.NotBefore)) {
		// The leaf is outside its validity (the expiry checks' finding):
		// the chain is trusted if the leaf's issuer builds to a root now
		// and signed the leaf.
		if issuer := findIssuer(leaf, served[1:]); issuer != nil {
			up, uerr := issuer.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			if uerr == nil {
				st.Status, st.Reason = records.ChainTrusted, "the leaf is outside its validity period; the chain above it is trusted"
				st.Root = up[0][len(up[0])-1].Subject.String()
				return chainResult{status: st, issuer: issuer}
			}
		}
	}
	var unknown x509.UnknownAuthorityError
	if err != nil && errors.As(err, &unknown) {
		if fetched := c.fetchIssuers(ctx, served[len(served)-1], inter); len(fetched) > 0 {
			if chains, err = verify(at); err == nil {
				st.Status, st.Fetched = records.ChainIncomplete, fetched
				st.Reason = fmt.Sprintf("the server omits %d intermediate(s), fetched through AIA caIssuers", len(fetched))
				return chainResult{status: withRoot(st, chains), issuer: issuerOf(chains)}
			}
			st.Fetched = fetched
		}
	}
	if err != nil {
		st.Status, st.Reason = records.ChainUntrusted, err.Error()
		return chainResult{status: st, issuer: findIssuer(leaf, served[1:])}
	}
	st.Status = records.ChainTrusted
	return chainResult{status: withRoot(st, chains), issuer: issuerOf(chains)}
}

func withRoot(st records.ChainStatus, chains [][]*x509.Certificate) records.ChainStatus {
	if len(chains) > 0 {
		st.Root = chains[0][len(chains[0])-1].Subject.String()
	}
	return st
}

func issuerOf(chains [][]*x509.Certificate) *x509.Certificate {
	if len(chains) > 0 && len(chains[0]) > 1 {
		return chains[0][1]
	}
	return nil
}

// findIssuer returns the candidate whose key signed c.
func findIssuer(c *x509.Certificate, candidates []*x509.Certificate) *x509.Certificate {
	for _, p := range candidates {
		if bytes.Equal(c.RawIssuer, p.RawSubject) && c.CheckSignatureFrom(p) == nil {
			return p
		}
	}
	return nil
}

// fetchIssuers follows caIssuers up from top, adding each certificate
// that signed the one below it to inter, and returns what it added.
func (c *Checker) fetchIssuers(ctx context.Context, top *x509.Certificate, inter *x509.CertPool) []records.FetchedCert {
	var out []records.FetchedCert
	for hop := 0; hop < maxAIAHops && c.fetch != nil; hop++ {
		if bytes.Equal(top.RawIssuer, top.RawSubject) || len(top.IssuingCertificateURL) == 0 {
			return out
		}
		next, from, err := c.fetchIssuer(ctx, top)
		if err != nil {
			return out
		}
		out = append(out, from)
		inter.AddCert(next)
		top = next
	}
	return out
}

// fetchIssuer fetches, within scope, the certificate that signed c from
// the URLs c names in AIA caIssuers, trying each in turn. The error says
// why none was had.
func (c *Checker) fetchIssuer(ctx context.Context, cert *x509.Certificate) (*x509.Certificate, records.FetchedCert, error) {
	if len(cert.IssuingCertificateURL) == 0 {
		return nil, records.FetchedCert{}, errors.New("no AIA caIssuers URL")
	}
	var problems []string
	for _, u := range cert.IssuingCertificateURL {
		resp, err := c.fetch.Do(ctx, Request{URL: u, Max: maxCertBytes})
		if err != nil {
			c.log.Debug("validity: caIssuers", "url", u, "err", err)
			problems = append(problems, err.Error())
			continue
		}
		for _, cand := range parseCerts(resp.Body) {
			if cert.CheckSignatureFrom(cand) == nil {
				return cand, records.FetchedCert{URL: u, Subject: cand.Subject.String(), SHA256: certSHA(cand)}, nil
			}
		}
		problems = append(problems, fmt.Sprintf("caIssuers %s: no certificate there signed it", u))
	}
	return nil, records.FetchedCert{}, errors.New(strings.Join(problems, "; "))
}

// parseCerts reads a caIssuers body: a DER certificate, a certs-only
// PKCS#7 (.p7c), or PEM certificates.
func parseCerts(b []byte) []*x509.Certificate {
	if c, err := x509.ParseCertificate(b); err == nil {
		return []*x509.Certificate{c}
	}
	if cs := parsePKCS7Certs(b); len(cs) > 0 {
		return cs
	}
	var out []*x509.Certificate
	for len(out) < maxBundleCerts {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil && blk.Type == "CERTIFICATE" {
			out = append(out, c)
		}
	}
	return out
}
