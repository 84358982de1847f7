package checks

import (
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Cases of revocation-status-unknown for the registry's table (TestChecks).
func init() { cases = append(cases, revocationStatusUnknownCases...) }

var revocationStatusUnknownCases = []tcase{
	{name: "revocation status unknown", check: "revocation-status-unknown", want: 1, sev: reconcile.Medium, msg: "OCSP http://ocsp.test: unauthorised responder",
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Revocation = []records.RevocationStatus{{Source: records.SourceOCSP, URL: "http://ocsp.test", Status: records.RevUnknown, Problem: "unauthorised responder"}}
		})},
	{name: "one source unknown, another good", check: "revocation-status-unknown", want: 1, sev: reconcile.Low, msg: "another answered",
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Revocation = []records.RevocationStatus{{Source: records.SourceOCSP, Status: records.RevUnknown, Problem: "timeout"}, {Source: records.SourceCRL, Status: records.RevGood}}
		})},
}
