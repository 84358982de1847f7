package certinfo

import (
	"crypto/rsa"
	"math/big"
)

// Weak-key tests in the spirit of Let's Encrypt's goodkey policy: a
// modulus with a small prime factor, a modulus whose primes are close
// enough for Fermat's method, and the ROCA fingerprint (CVE-2017-15361,
// Nemec et al., "The Return of Coppersmith's Attack", CCS 2017).

// smallPrimes are the primes below 752, the bound goodkey uses.
var smallPrimes = func() []*big.Int {
	var out []*big.Int
	for n := int64(2); n < 752; n++ {
		if big.NewInt(n).ProbablyPrime(0) {
			out = append(out, big.NewInt(n))
		}
	}
	return out
}()

// rocaPrimes are the small primes of the ROCA fingerprint: a vulnerable
// modulus N satisfies, for every p here, N mod p ∈ ⟨65537⟩ in (Z/pZ)*.
var rocaPrimes = []int64{3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167}

// rocaSubgroups[i] is the set of powers of 65537 modulo rocaPrimes[i].
var rocaSubgroups = func() []map[int64]bool {
	out := make([]map[int64]bool, len(rocaPrimes))
	for i, p := range rocaPrimes {
		set := map[int64]bool{}
		g := int64(65537) % p
		x := int64(1)
		for !set[x] {
			set[x] = true
			x = x * g % p
		}
		out[i] = set
	}
	return out
}()

// fermatRounds bounds the Fermat factorisation attempt.
const fermatRounds = 100

// RSAWeakness returns why an RSA public key is weak, or "".
func RSAWeakness(k *rsa.PublicKey) string {
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
		if m.Mod(n, p).Sign() == 0 && n.Cmp(p) != 0 {
			return "modulus divisible by small prime " + p.String()
		}
	}
	if roca(n) {
		return "ROCA fingerprint (CVE-2017-15361)"
	}
	if fermat(n) {
		return "primes too close (Fermat factorisation)"
	}
	return ""
}

func roca(n *big.Int) bool {
	var m big.Int
	for i, p := range rocaPrimes {
		r := m.Mod(n, big.NewInt(p)).Int64()
		if !rocaSubgroups[i][r] {
			return false
		}
	}
	return true
}

// fermat reports whether n = a² − b² for an a within fermatRounds of
// ⌈√n⌉, i.e. whether n's two factors are very close.
func fermat(n *big.Int) bool {
	a := new(big.Int).Sqrt(n)
	if new(big.Int).Mul(a, a).Cmp(n) == 0 {
		return true // a perfect square
	}
	a.Add(a, big.NewInt(1))
	b2 := new(big.Int)
	b := new(big.Int)
	for range fermatRounds {
		b2.Mul(a, a)
		b2.Sub(b2, n)
		b.Sqrt(b2)
		if new(big.Int).Mul(b, b).Cmp(b2) == 0 {
			return true
		}
		a.Add(a, big.NewInt(1))
	}
	return false
}
