package checks

import (
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Cases of unauthorized-issuance that read the validity stage's result of
// the CT certificate, for the registry's table (TestChecks); the others
// are in checks_test.go.
func init() { cases = append(cases, unauthorizedIssuanceCases...) }

// rogueCT is a snapshot of one CT certificate for a watched name whose
// key is in no inventory, with a validity result for it shaped by mod
// (nil: none).
func rogueCT(mod func(*reconcile.Snapshot, *records.Validity)) reconcile.Snapshot {
	s := reconcile.Snapshot{Watched: []string{"example.com"},
		Sightings: []records.Sighting{{Log: "log1", Index: 9, SPKISHA256: "x", CertSHA256: "crogue", Issuer: "CN=R11,O=Let's Encrypt,C=US", Names: []string{"www.example.com"}}}}
	if mod != nil {
		v := records.Validity{Endpoint: records.CTValidityKey("crogue"), CertSHA256: "crogue", SPKISHA256: "x", CT: &records.CTSeen{Log: "log1", Index: 9}}
		mod(&s, &v)
		s.Validity = append(s.Validity, v)
	}
	return s
}

var unauthorizedIssuanceCases = []tcase{
	{name: "CT cert its CA revoked", check: "unauthorized-issuance", want: 1, sev: reconcile.Critical,
		msg: "key is in no inventory source; revoked on 2026-11-24T12:00:00Z (keyCompromise, via OCSP http://ocsp.test)",
		snap: rogueCT(func(s *reconcile.Snapshot, v *records.Validity) {
			at := now.AddDate(0, 0, -1)
			v.Revocation = []records.RevocationStatus{{Source: records.SourceOCSP, URL: "http://ocsp.test", Status: records.RevRevoked, Reason: "keyCompromise", RevokedAt: at}}
			s.Revocations = []reconcile.Revocation{{CertSHA256: "crogue", RevokedAt: at, Reason: "keyCompromise", Source: "OCSP http://ocsp.test"}}
		})},
	{name: "CT cert its CA says good", check: "unauthorized-issuance", want: 1, msg: "key is in no inventory source",
		snap: rogueCT(func(_ *reconcile.Snapshot, v *records.Validity) {
			v.Revocation = []records.RevocationStatus{{Source: records.SourceOCSP, Status: records.RevGood}, {Source: records.SourceCRL, Status: records.RevUnknown, Problem: "timeout"}}
		})},
	{name: "CT cert of unknown revocation status", check: "unauthorized-issuance", want: 1,
		msg: "revocation status unknown (OCSP http://ocsp.test: the issuer certificate could not be had",
		snap: rogueCT(func(_ *reconcile.Snapshot, v *records.Validity) {
			v.Revocation = []records.RevocationStatus{{Source: records.SourceOCSP, URL: "http://ocsp.test", Status: records.RevUnknown, Problem: "the issuer certificate could not be had: not stored"}}
		})},
}
