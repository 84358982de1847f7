package certinfo

import (
	"crypto/rsa"
	"math/big"
	"math/bits"
)

// Weak-key tests in the spirit of Let's Encrypt's goodkey policy: a
// modulus with a small prime factor, a modulus whose primes are close
// enough for Fermat's method, and the ROCA fingerprint (CVE-2017-15361,
// Nemec et al., "The Return of Coppersmith's Attack", CCS 2017).
//
// The tests are exact but cheap: the remainders modulo every small prime
// come from one pass over the modulus per 64-bit product of primes, and
// Fermat's rounds take a square root only when a_i² − n is a square
// modulo 64·63·65·11 (about one round in a hundred). A key is tested once:
// RSAWeakness caches its answer by the key's modulus and exponent.

// smallPrimes are the primes below 752, the bound goodkey uses (a sieve:
// it runs at every start of the program, so it must cost microseconds).
var smallPrimes = func() []uint64 {
	const bound = 752
	var composite [bound]bool
	var out []uint64
	for n := 2; n < bound; n++ {
		if composite[n] {
			continue
		}
		out = append(out, uint64(n))
		for m := n * n; m < bound; m += n {
			composite[m] = true
		}
	}
	return out
}()

// primeGroup is a run of smallPrimes whose product fits in 64 bits.
type primeGroup struct {
	product uint64
	first   int // index of its first prime in smallPrimes
	n       int
}

var primeGroups = func() []primeGroup {
	var out []primeGroup
	g := primeGroup{product: 1}
	for i, p := range smallPrimes {
		if hi, _ := bits.Mul64(g.product, p); hi != 0 {
			out = append(out, g)
			g = primeGroup{product: 1, first: i}
		}
		g.product *= p
		g.n++
	}
	return append(out, g)
}()

// rocaPrimes are the small primes of the ROCA fingerprint: a vulnerable
// modulus N satisfies, for every p here, N mod p ∈ ⟨65537⟩ in (Z/pZ)*.
var rocaPrimes = []uint64{3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167}

// rocaSubgroups[i] is the set of powers of 65537 modulo rocaPrimes[i].
var rocaSubgroups = func() []map[uint64]bool {
	out := make([]map[uint64]bool, len(rocaPrimes))
	for i, p := range rocaPrimes {
		set := map[uint64]bool{}
		g := uint64(65537) % p
		x := uint64(1)
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

// modWords returns n mod m for n given as little-endian words.
func modWords(words []big.Word, m uint64) uint64 {
	var r uint64
	for i := len(words) - 1; i >= 0; i-- {
		r = bits.Rem64(r, uint64(words[i]), m)
	}
	return r
}

// words returns n's magnitude as 64-bit little-endian words.
func words(n *big.Int) []big.Word {
	if bits.UintSize == 64 {
		return n.Bits()
	}
	// 32-bit platforms: repack.
	b := n.Bytes()
	out := make([]big.Word, 0, len(b)/8+1)
	for len(b) > 0 {
		k := max(len(b)-8, 0)
		var w uint64
		for _, c := range b[k:] {
			w = w<<8 | uint64(c)
		}
		out = append(out, big.Word(w))
		b = b[:k]
	}
	return out
}

// smallRemainders returns n mod p for every p in smallPrimes.
func smallRemainders(n *big.Int) []uint64 {
	w := words(n)
	out := make([]uint64, len(smallPrimes))
	for _, g := range primeGroups {
		r := modWords(w, g.product)
		for i := g.first; i < g.first+g.n; i++ {
			out[i] = r % smallPrimes[i]
		}
	}
	return out
}

func rsaWeakness(k *rsa.PublicKey) string {
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
	rems := smallRemainders(n)
	for i, p := range smallPrimes {
		if rems[i] == 0 && (n.BitLen() > 10 || n.Uint64() != p) {
			return "modulus divisible by small prime " + big.NewInt(int64(p)).String()
		}
	}
	if roca(rems) {
		return "ROCA fingerprint (CVE-2017-15361)"
	}
	if fermat(n) {
		return "primes too close (Fermat factorisation)"
	}
	return ""
}

// roca tests the fingerprint on the remainders smallRemainders returned
// (rocaPrimes are the odd primes at the start of smallPrimes).
func roca(rems []uint64) bool {
	for i := range rocaPrimes {
		if !rocaSubgroups[i][rems[i+1]] {
			return false
		}
	}
	return true
}

// squareFilter holds, for m = 64·63·65·11, whether each residue modulo
// 64, 63, 65 and 11 is a square; a number that is not a square modulo one
// of them is not a square.
const (
	sq64, sq63, sq65, sq11 = 64, 63, 65, 11
	sqMod                  = sq64 * sq63 * sq65 * sq11
)

var squares = func() [4][]bool {
	var out [4][]bool
	for i, m := range []uint64{sq64, sq63, sq65, sq11} {
		out[i] = make([]bool, m)
		for x := range m {
			out[i][x*x%m] = true
		}
	}
	return out
}()

func maybeSquare(r uint64) bool {
	return squares[0][r%sq64] && squares[1][r%sq63] && squares[2][r%sq65] && squares[3][r%sq11]
}

// fermat reports whether n = a² − b² for an a within fermatRounds of
// ⌈√n⌉, i.e. whether n's two factors are very close.
func fermat(n *big.Int) bool {
	a := new(big.Int).Sqrt(n)
	if new(big.Int).Mul(a, a).Cmp(n) == 0 {
		return true // a perfect square
	}
	a.Add(a, big.NewInt(1))
	// a_i² − n modulo sqMod, tracked without big arithmetic.
	am := modWords(words(a), sqMod)
	nm := modWords(words(n), sqMod)
	b2 := new(big.Int)
	b := new(big.Int)
	for i := range fermatRounds {
		ai := (am + uint64(i)) % sqMod
		if maybeSquare((ai*ai%sqMod + sqMod - nm) % sqMod) {
			ab := new(big.Int).Add(a, big.NewInt(int64(i)))
			b2.Mul(ab, ab)
			b2.Sub(b2, n)
			b.Sqrt(b2)
			if b.Mul(b, b).Cmp(b2) == 0 {
				return true
			}
		}
	}
	return false
}
