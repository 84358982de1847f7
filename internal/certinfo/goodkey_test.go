package certinfo

import (
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

// referenceWeakness is the textbook form of the weak-key tests, with big
// arithmetic throughout: the fast path must agree with it on every input.
func referenceWeakness(k *rsa.PublicKey) string {
	n := k.N
	if n == nil || n.Sign() <= 0 {
		return "invalid modulus"
	}
	if n.Bit(0) == 0 {
		return "even modulus"
	}
	if k.E < 3 || k.E%2 == 0 {
		return "invalid public exponent"
	}
	var m big.Int
	for _, p := range smallPrimes {
		bp := new(big.Int).SetUint64(p)
		if m.Mod(n, bp).Sign() == 0 && n.Cmp(bp) != 0 {
			return "modulus divisible by small prime " + bp.String()
		}
	}
	isROCA := true
	for i, p := range rocaPrimes {
		if !rocaSubgroups[i][m.Mod(n, new(big.Int).SetUint64(p)).Uint64()] {
			isROCA = false
			break
		}
	}
	if isROCA {
		return "ROCA fingerprint (CVE-2017-15361)"
	}
	a := new(big.Int).Sqrt(n)
	if new(big.Int).Mul(a, a).Cmp(n) == 0 {
		return "primes too close (Fermat factorisation)"
	}
	a.Add(a, big.NewInt(1))
	for range fermatRounds {
		b2 := new(big.Int).Mul(a, a)
		b2.Sub(b2, n)
		b := new(big.Int).Sqrt(b2)
		if b.Mul(b, b).Cmp(b2) == 0 {
			return "primes too close (Fermat factorisation)"
		}
		a.Add(a, big.NewInt(1))
	}
	return ""
}

// TestWeaknessMatchesReference compares the fast tests with the textbook
// ones on moduli built to sit on every boundary: a² − b² with b chosen so
// that Fermat's method succeeds in round 0…150 (inside and just outside
// the bound), multiples of each small prime, the small primes themselves,
// and random odd numbers.
func TestWeaknessMatchesReference(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	check := func(n *big.Int, what string) {
		t.Helper()
		k := &rsa.PublicKey{N: n, E: 65537}
		if got, want := rsaWeakness(k), referenceWeakness(k); got != want {
			t.Fatalf("%s: n=%x: fast %q, reference %q", what, n, got, want)
		}
	}
	primorial := big.NewInt(1)
	for _, p := range smallPrimes {
		primorial.Mul(primorial, new(big.Int).SetUint64(p))
	}
	A, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 1024))
	A.SetBit(A, 1023, 1)
	fermatHits := 0
	for range 400 {
		// n = A² − b², b ≈ √(2·A·r) puts the hit near round r.
		r := rng.Int64N(160)
		b := new(big.Int).Sqrt(new(big.Int).Mul(A, big.NewInt(2*r+1)))
		b.Add(b, big.NewInt(rng.Int64N(1000)))
		if b.Bit(0) == A.Bit(0) {
			b.Add(b, big.NewInt(1)) // n odd
		}
		n := new(big.Int).Sub(new(big.Int).Mul(A, A), new(big.Int).Mul(b, b))
		for new(big.Int).GCD(nil, nil, n, primorial).Cmp(big.NewInt(1)) != 0 {
			b.Add(b, big.NewInt(2)) // no small factor, so Fermat decides
			n.Sub(new(big.Int).Mul(A, A), new(big.Int).Mul(b, b))
		}
		if referenceWeakness(&rsa.PublicKey{N: n, E: 65537}) == "primes too close (Fermat factorisation)" {
			fermatHits++
		}
		check(n, "a²−b²")
	}
	if fermatHits < 50 || fermatHits > 350 {
		t.Fatalf("the constructed moduli hit Fermat %d times of 400: not on the boundary", fermatHits)
	}
	big2048 := new(big.Int).Lsh(big.NewInt(1), 2047)
	for _, p := range smallPrimes {
		bp := new(big.Int).SetUint64(p)
		check(bp, "prime")
		q, _ := rand.Int(rand.Reader, big2048)
		q.SetBit(q, 0, 1)
		check(new(big.Int).Mul(q, bp), "multiple")
	}
	for range 200 {
		n, _ := rand.Int(rand.Reader, big2048)
		n.SetBit(n, 0, 1)
		check(n, "random")
	}
	for _, small := range []int64{1, 3, 9, 15, 25, 753 * 757, 1 << 40} {
		check(big.NewInt(small), "small")
	}
}

// TestRSAWeaknessCached checks the cache answers per key, not per
// modulus alone: the same modulus with an invalid exponent is weak.
func TestRSAWeaknessCached(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 1024)
	if w := RSAWeakness(&k.PublicKey); w != "" {
		t.Fatal(w)
	}
	if w := RSAWeakness(&rsa.PublicKey{N: k.N, E: 4}); w != "invalid public exponent" {
		t.Fatalf("same modulus, even exponent: %q", w)
	}
	if w := RSAWeakness(&k.PublicKey); w != "" {
		t.Fatal(w)
	}
}

func TestGenCacheBounded(t *testing.T) {
	c := newGenCache[int, int](4)
	for i := range 100 {
		c.put(i, i)
		if len(c.cur)+len(c.old) > 8 {
			t.Fatalf("cache holds %d entries, limit 2·4", len(c.cur)+len(c.old))
		}
	}
	// A hot key survives churn: every hit promotes it.
	c.put(-1, -1)
	for i := range 100 {
		c.put(1000+i, i)
		if _, ok := c.get(-1); !ok {
			t.Fatalf("hot key evicted after %d inserts", i)
		}
	}
}

// TestSmallPrimes: the sieve yields exactly the primes below 752 (133 of
// them), as big.Int's primality test says.
func TestSmallPrimes(t *testing.T) {
	var want []uint64
	for n := int64(2); n < 752; n++ {
		if big.NewInt(n).ProbablyPrime(20) {
			want = append(want, uint64(n))
		}
	}
	if len(want) != 133 || !slices.Equal(smallPrimes, want) {
		t.Fatalf("smallPrimes: %d primes, want %d: %v", len(smallPrimes), len(want), smallPrimes)
	}
}
