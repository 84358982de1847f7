package checks

import (
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Cases of incomplete-chain for the registry's table (TestChecks).
func init() { cases = append(cases, incompleteChainCases...) }

var incompleteChainCases = []tcase{
	{name: "incomplete chain", check: "incomplete-chain", want: 1, sev: reconcile.Medium, msg: "omits intermediate(s) CN=Issuing CA",
		snap: withValidity(vleaf, func(v *records.Validity) {
			v.Chain = records.ChainStatus{Status: records.ChainIncomplete, Fetched: []records.FetchedCert{{URL: "http://ca.test/i.der", Subject: "CN=Issuing CA"}}}
		})},
}
