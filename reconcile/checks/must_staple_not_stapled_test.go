package checks

import (
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Cases of must-staple-not-stapled for the registry's table (TestChecks).
func init() { cases = append(cases, mustStapleNotStapledCases...) }

var mustStapleNotStapledCases = []tcase{
	{name: "must-staple without staple", check: "must-staple-not-stapled", want: 1, sev: reconcile.High, msg: "without a stapled OCSP response",
		snap: withValidity(vleaf, func(v *records.Validity) { v.MustStaple = true })},
	{name: "must-staple stapled", check: "must-staple-not-stapled", want: 0,
		snap: withValidity(vleaf, func(v *records.Validity) { v.MustStaple, v.Stapled = true, true })},
}
