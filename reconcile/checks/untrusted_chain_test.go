package checks

import (
	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Cases of untrusted-chain for the registry's table (TestChecks).
func init() { cases = append(cases, untrustedChainCases...) }

var untrustedChainCases = []tcase{
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
}
