package inventory_test

import (
	"context"
	"testing"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/inventory/pkcs11"
)

// BenchmarkPKCS11TenThousand lists a SoftHSM token holding 10,000 key
// objects (2,500 RSA private keys with their 2,500 public keys, 2,500 P-256
// public keys, 2,500 AES keys): open (module load, C_Initialize, login)
// plus enumeration, attributes, SPKI derivation and pairing. Target: < 2 s
// per op on the 2-core reference machine.
func BenchmarkPKCS11TenThousand(b *testing.B) {
	h := testlab.NewSoftHSM(b)
	tk, pop := h.PopulatedToken("big", "1234", 10000)
	u, err := pkcs11uri.Parse("pkcs11:token=big?module-path=" + h.Module)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		s, err := pkcs11.Open(ctx, pkcs11.Config{URI: u, PIN: tk.PIN})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		res := s.Keys(ctx, func(inventory.Key) error { n++; return nil })
		s.Close()
		if res.Status != inventory.StatusComplete || n != pop.Objects {
			b.Fatalf("listed %d of %d: %+v", n, pop.Objects, res)
		}
	}
	b.ReportMetric(float64(pop.Objects), "objects/op")
}
