package reconcile

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

// TestFingerprinterMatchesFingerprint: Run deduplicates with the digest
// Finding.Fingerprint prints.
func TestFingerprinterMatchesFingerprint(t *testing.T) {
	var p fingerprinter
	for _, f := range []Finding{{}, {Check: "a", Subject: "b"}, {Check: "a\x00b"}, {Check: "x", Subject: "y", SPKISHA256: "s", CertSHA256: "c", Endpoint: "tls://h:443"}} {
		k := p.sum(&f)
		if got := hex.EncodeToString(k[:]); got != f.Fingerprint() {
			t.Fatalf("%+v: fingerprinter %s, Fingerprint %s", f, got, f.Fingerprint())
		}
	}
}

// TestSortMatchesStableSort: the index sort gives the order a stable sort
// of the findings themselves gives, ties included.
func TestSortMatchesStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sevs := []Severity{Critical, High, Medium, Low, Info}
	for round := range 50 {
		n := rng.IntN(300)
		fs := make([]Finding, n)
		for i := range fs {
			fs[i] = Finding{Severity: sevs[rng.IntN(5)], Check: fmt.Sprint(rng.IntN(3)), Subject: fmt.Sprint(rng.IntN(4)),
				Endpoint: fmt.Sprint(rng.IntN(2)), CertSHA256: fmt.Sprint(rng.IntN(2)), Message: fmt.Sprint(i)}
		}
		want := append([]Finding(nil), fs...)
		sort.SliceStable(want, func(i, j int) bool {
			a, b := want[i], want[j]
			if a.Severity.Rank() != b.Severity.Rank() {
				return a.Severity.Rank() > b.Severity.Rank()
			}
			if a.Check != b.Check {
				return a.Check < b.Check
			}
			if a.Subject != b.Subject {
				return a.Subject < b.Subject
			}
			if a.Endpoint != b.Endpoint {
				return a.Endpoint < b.Endpoint
			}
			return a.CertSHA256 < b.CertSHA256
		})
		Sort(fs)
		for i := range fs {
			if fs[i].Message != want[i].Message {
				t.Fatalf("round %d: position %d holds finding %s, want %s", round, i, fs[i].Message, want[i].Message)
			}
		}
	}
}
