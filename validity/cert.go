package validity

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/store/records"
)

// CertTarget is a certificate seen away from any endpoint (logged in CT):
// its DER, and the DER of certificates the store holds that may have
// issued it (none: the issuer is fetched through AIA caIssuers).
type CertTarget struct {
	DER     []byte
	Issuers [][]byte
}

// issuerFetch is one caIssuers fetch's outcome, kept for the Checker's
// life: the certificates of one CA share the URL.
type issuerFetch struct {
	cert *x509.Certificate
	from records.FetchedCert
	err  error
}

// CheckCert checks the revocation of a certificate nobody serves (a CT
// sighting): OCSP and CRL, asked about with its issuer, which is the
// stored certificate that signed it, else one fetched within scope from
// its AIA caIssuers. Without an issuer no source is contacted (an OCSP
// request names the issuer, and an unverified CRL proves nothing): each
// source it names is recorded unknown, saying why. Chain trust and
// hostname are not judged. Endpoint and CT's log fields are the caller's.
func (c *Checker) CheckCert(ctx context.Context, t CertTarget) records.Validity {
	now := c.now()
	v := records.Validity{Time: now.UTC(), HostnameOK: true, Revocation: []records.RevocationStatus{}, CT: &records.CTSeen{}}
	leaf, err := x509.ParseCertificate(t.DER)
	if err != nil {
		v.Error = fmt.Sprintf("certificate does not parse: %v", err)
		return v
	}
	ci := certinfo.ParseX509(leaf)
	v.CertSHA256, v.SPKISHA256, v.Subject, v.Serial = certSHA(leaf), ci.SPKISHA256, ci.Subject, ci.Serial
	if c.cfg.NoRevocation {
		return v
	}
	ocspURL, crl := "", crlURL(leaf)
	if len(leaf.OCSPServer) > 0 {
		ocspURL = leaf.OCSPServer[0]
	}
	if ocspURL == "" && crl == "" {
		return v // nothing to ask: the issuer is not needed
	}
	issuer, err := c.issuerOf(ctx, leaf, t.Issuers, v.CT)
	if err != nil {
		v.CT.IssuerProblem = err.Error()
		why := fmt.Errorf("the issuer certificate could not be had: %w", err)
		if ocspURL != "" {
			v.Revocation = append(v.Revocation, unknownStatus(records.SourceOCSP, ocspURL, why))
		}
		if crl != "" {
			v.Revocation = append(v.Revocation, unknownStatus(records.SourceCRL, crl, why))
		}
		return v
	}
	v.CT.Issuer, v.CT.IssuerSHA256 = issuer.Subject.String(), certSHA(issuer)
	if rs := c.checkOCSP(ctx, leaf, issuer, now); rs != nil {
		v.Revocation = append(v.Revocation, *rs)
	}
	if rs := c.checkCRL(ctx, leaf, issuer, now); rs != nil {
		v.Revocation = append(v.Revocation, *rs)
	}
	return v
}

// issuerOf finds leaf's issuer among the stored candidates, else through
// its caIssuers URLs, and notes in ct where it came from.
func (c *Checker) issuerOf(ctx context.Context, leaf *x509.Certificate, stored [][]byte, ct *records.CTSeen) (*x509.Certificate, error) {
	var cands []*x509.Certificate
	for _, der := range stored {
		if x, err := x509.ParseCertificate(der); err == nil {
			cands = append(cands, x)
		}
	}
	if is := findIssuer(leaf, cands); is != nil {
		ct.IssuerFrom = "store"
		return is, nil
	}
	if len(leaf.IssuingCertificateURL) == 0 {
		return nil, errors.New("not stored, and the certificate names no AIA caIssuers URL")
	}
	key := fmt.Sprint(leaf.IssuingCertificateURL)
	c.mu.Lock()
	f, ok := c.issuers[key]
	c.mu.Unlock()
	if !ok {
		f.cert, f.from, f.err = c.fetchIssuer(ctx, leaf)
		if ctx.Err() == nil { // an interrupted fetch says nothing of the URL
			c.mu.Lock()
			if c.issuers == nil {
				c.issuers = map[string]issuerFetch{}
			}
			c.issuers[key] = f
			c.mu.Unlock()
		}
	}
	if f.err != nil {
		return nil, fmt.Errorf("not stored, and not fetched through AIA caIssuers: %w", f.err)
	}
	// The fetched certificate signed another certificate of the same CA
	// named by the same URLs: check it signed this one.
	if err := leaf.CheckSignatureFrom(f.cert); err != nil {
		return nil, fmt.Errorf("not stored, and the certificate at %s did not sign it: %w", f.from.URL, err)
	}
	ct.IssuerFrom = f.from.URL
	return f.cert, nil
}
