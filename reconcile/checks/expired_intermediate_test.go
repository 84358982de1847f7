package checks

import (
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Cases of expired-intermediate for the registry's table (TestChecks).
func init() { cases = append(cases, expiredIntermediateCases...) }

var expiredIntermediateCases = []tcase{
	{name: "expired intermediate", check: "expired-intermediate", want: 1, sev: reconcile.High, msg: "CN=Old CA (expired 2026-11-01)",
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Chain.ExpiredIntermediates = []records.ExpiredCert{{Subject: "CN=Old CA", NotAfter: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}}
		})},
}
