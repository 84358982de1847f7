package checks

import (
	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Cases of revoked-but-deployed from validity evidence (the check's
// other cases are in checks_test.go).
func init() { cases = append(cases, revokedByValidityCases...) }

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

var revokedByValidityCases = []tcase{
	{name: "revoked by OCSP", check: "revoked-but-deployed", want: 1, sev: reconcile.Critical, msg: "(keyCompromise, via OCSP http://ocsp.test)",
		snap: func() reconcile.Snapshot {
			s := withValidity(vleaf, func(*records.Validity) {})
			s.Revocations = []reconcile.Revocation{{CertSHA256: vleaf.SHA256, RevokedAt: now.AddDate(0, 0, -1), Reason: "keyCompromise", Source: "OCSP http://ocsp.test"}}
			return s
		}()},
}
