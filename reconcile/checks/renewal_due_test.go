package checks

import (
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Cases of renewal-due for the registry's table (TestChecks).
func init() { cases = append(cases, renewalDueCases...) }

var renewalDueCases = []tcase{
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
}
