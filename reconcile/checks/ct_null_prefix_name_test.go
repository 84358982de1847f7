package checks

import (
	"testing"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// The registry's table (TestChecks, and the meta-test that every check
// fires in it) gets this check's cases.
func init() {
	cases = append(cases, nullPrefixCases...)
}

var nullPrefixCases = []tcase{
	{name: "CT certificate with a NUL after a watched name", check: "ct-null-prefix-name", want: 1, sev: reconcile.Critical,
		msg: `names "www.example.com\x00.evil.test", which a client stopping at the NUL reads as www.example.com`,
		snap: reconcile.Snapshot{Watched: []string{"example.com"}, Keys: managed("s9"), Sightings: []records.Sighting{{
			Log: "log1", Index: 9, SPKISHA256: "s9", CertSHA256: "c9", Issuer: "CN=R11,O=Let's Encrypt,C=US",
			Names: []string{"decoy.evil.test"}, NULNames: []string{"www.example.com\x00.evil.test"}, Matched: []string{"example.com"}}}}},
	{name: "CT certificate without NUL names", check: "ct-null-prefix-name", want: 0,
		snap: reconcile.Snapshot{Watched: []string{"example.com"}, Sightings: []records.Sighting{{
			Log: "log1", Index: 10, SPKISHA256: "s9", Names: []string{"www.example.com"}, Matched: []string{"example.com"}}}}},
}

// TestNullPrefixNameIsNotUnauthorizedIssuance: the NUL name is not a
// DNS name of the certificate, so the issuance checks, which look at
// Names, do not claim it; this check does, even for a managed key.
func TestNullPrefixNameIsNotUnauthorizedIssuance(t *testing.T) {
	s := nullPrefixCases[0].snap
	s.Now = now
	res := reconcile.Run(&s, reconcile.Options{Checks: []string{"unauthorized-issuance", "ct-null-prefix-name"}})
	if len(res.Findings) != 1 || res.Findings[0].Check != "ct-null-prefix-name" || res.Findings[0].Endpoint == "" {
		t.Fatalf("findings %+v", res.Findings)
	}
}
