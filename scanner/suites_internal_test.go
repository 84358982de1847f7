package scanner

import (
	"crypto/tls"
	"testing"
)

// TestSuiteName: the table every observation names its suite from says
// what crypto/tls says, for every suite it offers and for unknown IDs.
func TestSuiteName(t *testing.T) {
	if len(stdCipherSuites) == 0 || len(stdSuiteNames) != len(stdCipherSuites) {
		t.Fatalf("%d suites offered, %d named", len(stdCipherSuites), len(stdSuiteNames))
	}
	ids := append([]uint16{0x0000, 0x1301, 0xc02f, 0x000a, 0x0005, 0xfefe, 0xffff}, stdCipherSuites...)
	for _, id := range ids {
		if got, want := suiteName(id), tls.CipherSuiteName(id); got != want {
			t.Errorf("suiteName(%#04x) = %q, want %q", id, got, want)
		}
	}
}
