package checks

import (
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// The validity checks' cases join the registry's table (TestChecks and
// the meta-test that every check fires in it).
func init() {
	cases = append(cases, validityCases...)
}

// withValidity is a snapshot of one endpoint serving leaf, with a
// validity result for it shaped by mod.
func withValidity(leaf certinfo.Cert, mod func(*records.Validity), omods ...func(*records.Observation)) reconcile.Snapshot {
	o := obs("www.example.com", leaf, omods...)
	v := records.Validity{Endpoint: records.ObservationKey(o), Name: "www.example.com", CertSHA256: leaf.SHA256, SPKISHA256: leaf.SPKISHA256,
		Chain: records.ChainStatus{Status: records.ChainTrusted}, HostnameOK: true, Revocation: []records.RevocationStatus{}}
	mod(&v)
	return reconcile.Snapshot{Observations: []records.Observation{o}, Keys: managed("v1"), Validity: []records.Validity{v}}
}

var vleaf = cert("www.example.com", "v1")

var validityCases = []tcase{
	{name: "untrusted chain", check: "untrusted-chain", want: 1, sev: reconcile.High, msg: "does not build to a trusted root: x509: unknown authority",
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Chain = records.ChainStatus{Status: records.ChainUntrusted, Reason: "x509: unknown authority"}
		})},
	{name: "untrusted self-signed leaf is the self-signed check's", check: "untrusted-chain", want: 0,
		snap: withValidity(cert("www.example.com", "v1", func(c *certinfo.Cert) { c.SelfSigned = true }),
			func(v *records.Validity) { v.Chain.Status = records.ChainUntrusted })},
	{name: "validity of a certificate no longer served", check: "untrusted-chain", want: 0,
		snap: withValidity(vleaf, func(v *records.Validity) { v.Chain.Status, v.CertSHA256 = records.ChainUntrusted, "c-old" })},
	{name: "trusted chain", check: "untrusted-chain", want: 0, snap: withValidity(vleaf, func(*records.Validity) {})},
	{name: "incomplete chain", check: "incomplete-chain", want: 1, sev: reconcile.Medium, msg: "omits intermediate(s) CN=Issuing CA",
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Chain = records.ChainStatus{Status: records.ChainIncomplete, Fetched: []records.FetchedCert{{URL: "http://ca.test/i.der", Subject: "CN=Issuing CA"}}}
		})},
	{name: "expired intermediate", check: "expired-intermediate", want: 1, sev: reconcile.High, msg: "CN=Old CA (expired 2026-11-01)",
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Chain.ExpiredIntermediates = []records.ExpiredCert{{Subject: "CN=Old CA", NotAfter: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}}
		})},
	{name: "hostname mismatch", check: "hostname-mismatch", want: 1, sev: reconcile.High, msg: "does not cover the name www.example.com",
		snap: withValidity(vleaf, func(v *records.Validity) { v.HostnameOK = false })},
	{name: "IP target without IP SAN", check: "hostname-mismatch", want: 1, sev: reconcile.Medium, msg: "no IP address SAN for 127.0.0.1",
		snap: withValidity(vleaf, func(v *records.Validity) { v.HostnameOK, v.Name = false, "127.0.0.1" })},
	{name: "must-staple without staple", check: "must-staple-not-stapled", want: 1, sev: reconcile.High, msg: "without a stapled OCSP response",
		snap: withValidity(vleaf, func(v *records.Validity) { v.MustStaple = true })},
	{name: "must-staple stapled", check: "must-staple-not-stapled", want: 0,
		snap: withValidity(vleaf, func(v *records.Validity) { v.MustStaple, v.Stapled = true, true })},
	{name: "revocation status unknown", check: "revocation-status-unknown", want: 1, sev: reconcile.Medium, msg: "OCSP http://ocsp.test: unauthorised responder",
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Revocation = []records.RevocationStatus{{Source: records.SourceOCSP, URL: "http://ocsp.test", Status: records.RevUnknown, Problem: "unauthorised responder"}}
		})},
	{name: "one source unknown, another good", check: "revocation-status-unknown", want: 1, sev: reconcile.Low, msg: "another answered",
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Revocation = []records.RevocationStatus{{Source: records.SourceOCSP, Status: records.RevUnknown, Problem: "timeout"}, {Source: records.SourceCRL, Status: records.RevGood}}
		})},
	{name: "ACME renewal window open", check: "renewal-due", want: 1, sev: reconcile.Medium, msg: "the CA explains: https://ca.test/incident",
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Renewal = &records.RenewalInfo{Directory: "https://ca.test/dir", WindowStart: now.Add(-time.Hour), WindowEnd: now.Add(time.Hour), ExplanationURL: "https://ca.test/incident"}
		})},
	{name: "ACME renewal window passed", check: "renewal-due", want: 1, sev: reconcile.High, msg: "renew now",
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Renewal = &records.RenewalInfo{WindowStart: now.Add(-2 * time.Hour), WindowEnd: now.Add(-time.Hour)}
		})},
	{name: "ACME renewal window ahead", check: "renewal-due", want: 0,
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Renewal = &records.RenewalInfo{WindowStart: now.AddDate(0, 1, 0), WindowEnd: now.AddDate(0, 1, 2)}
		})},
	{name: "ACME renewalInfo failed", check: "renewal-due", want: 0,
		snap: withValidity(vleaf, func(v *records.Validity) { v.Renewal = &records.RenewalInfo{Problem: "unreachable"} })},
	{name: "revoked by OCSP", check: "revoked-but-deployed", want: 1, sev: reconcile.Critical, msg: "(keyCompromise, via OCSP http://ocsp.test)",
		snap: func() reconcile.Snapshot {
			s := withValidity(vleaf, func(*records.Validity) {})
			s.Revocations = []reconcile.Revocation{{CertSHA256: vleaf.SHA256, RevokedAt: now.AddDate(0, 0, -1), Reason: "keyCompromise", Source: "OCSP http://ocsp.test"}}
			return s
		}()},
}
