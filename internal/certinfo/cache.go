package certinfo

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"sync"
)

// The scanner and the CT monitor meet the same keys and certificates over
// and over: an intermediate is served by thousands of endpoints, a key by
// every certificate renewed on it. What is derived from them alone (the
// weak-key tests, a certificate's summary) is computed once and kept in a
// bounded cache, so memory stays bounded by the cache size, not by the
// number of endpoints or entries.

// cacheEntries bounds each cache: it holds between cacheEntries and
// 2·cacheEntries recent entries (two generations).
const cacheEntries = 2048

// genCache is a concurrency-safe cache with two generations: a hit in the
// old generation is promoted; when the new one fills up, the old one is
// dropped. It is an approximation of LRU with O(1) bookkeeping.
type genCache[K comparable, V any] struct {
	mu       sync.Mutex
	cur, old map[K]V
	limit    int
}

func newGenCache[K comparable, V any](limit int) *genCache[K, V] {
	return &genCache[K, V]{cur: make(map[K]V), limit: limit}
}

func (c *genCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[k]; ok {
		return v, true
	}
	v, ok := c.old[k]
	if ok {
		c.putLocked(k, v)
	}
	return v, ok
}

func (c *genCache[K, V]) put(k K, v V) {
	c.mu.Lock()
	c.putLocked(k, v)
	c.mu.Unlock()
}

func (c *genCache[K, V]) putLocked(k K, v V) {
	if len(c.cur) >= c.limit {
		c.old, c.cur = c.cur, make(map[K]V, c.limit)
	}
	c.cur[k] = v
}

// rsaKeyID identifies an RSA public key by a hash of its modulus and
// exponent (equal to hashing its SPKI for the purpose of the weak-key
// tests, without marshalling one).
type rsaKeyID [sha256.Size]byte

var weakCache = newGenCache[rsaKeyID, string](cacheEntries)

// RSAWeakness returns why an RSA public key is weak, or "". The answer is
// cached per key.
func RSAWeakness(k *rsa.PublicKey) string {
	if k.N == nil {
		return rsaWeakness(k)
	}
	h := sha256.New()
	h.Write(k.N.Bytes())
	h.Write([]byte{byte(k.E >> 24), byte(k.E >> 16), byte(k.E >> 8), byte(k.E)})
	var id rsaKeyID
	h.Sum(id[:0])
	if w, ok := weakCache.get(id); ok {
		return w
	}
	w := rsaWeakness(k)
	weakCache.put(id, w)
	return w
}

// certCache keeps the summaries of recently seen certificates by their
// SHA-256.
var certCache = newGenCache[[sha256.Size]byte, Cert](cacheEntries / 2)

// cached returns a copy of a cached summary (the caller may change its
// slices).
func cached(sum [sha256.Size]byte) (Cert, bool) {
	c, ok := certCache.get(sum)
	if ok {
		c.SANs = append([]string{}, c.SANs...)
	}
	return c, ok
}

func remember(sum [sha256.Size]byte, c Cert) {
	c.SANs = append([]string{}, c.SANs...)
	// Not the DER: it may be a slice of a whole handshake message, which
	// the cache must not keep alive.
	c.DER = nil
	certCache.put(sum, c)
}

// parseStdCached summarises x, reusing the summary of a certificate seen
// before.
func parseStdCached(x *x509.Certificate) Cert {
	sum := sha256.Sum256(x.Raw)
	if c, ok := cached(sum); ok {
		c.DER = x.Raw
		return c
	}
	c := Cert{SHA256: HexSum(sum), SANs: []string{}, DER: x.Raw}
	fillStd(&c, x)
	remember(sum, c)
	return c
}
