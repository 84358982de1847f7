package certinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestHexSumParseSum: HexSum is hex.EncodeToString of the digest, and
// ParseSum reads it back; anything but 64 hex digits is refused.
func TestHexSumParseSum(t *testing.T) {
	sum := sha256.Sum256([]byte("keyaudit"))
	h := HexSum(sum)
	if h != hex.EncodeToString(sum[:]) {
		t.Fatalf("HexSum = %s", h)
	}
	if got, ok := ParseSum(h); !ok || got != sum {
		t.Fatalf("ParseSum(%s) = %x, %v", h, got, ok)
	}
	for _, bad := range []string{"", "ab", h[:63], h + "0", h[:62] + "zz"} {
		if _, ok := ParseSum(bad); ok {
			t.Errorf("ParseSum(%q) accepted", bad)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { ParseSum(h) }); allocs != 0 {
		t.Errorf("ParseSum allocates %v times", allocs)
	}
}
