package checks

import (
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Cases of hostname-mismatch for the registry's table (TestChecks).
func init() { cases = append(cases, hostnameMismatchCases...) }

var hostnameMismatchCases = []tcase{
	{name: "hostname mismatch", check: "hostname-mismatch", want: 1, sev: reconcile.High, msg: "does not cover the name www.example.com",
		snap: withValidity(vleaf, func(v *records.Validity) { v.HostnameOK = false })},
	{name: "IP target without IP SAN", check: "hostname-mismatch", want: 1, sev: reconcile.Low, msg: "no IP address SAN for 127.0.0.1",
		snap: withValidity(vleaf, func(v *records.Validity) { v.HostnameOK, v.Name = false, "127.0.0.1" })},
}
