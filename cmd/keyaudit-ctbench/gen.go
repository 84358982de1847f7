package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"filippo.io/sunlight"
	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// logMeta describes a generated log (DIR/log.json).
type logMeta struct {
	Origin string `json:"origin"`
	// Key is the log's public key, base64 DER; PrivateKey its PKCS#8,
	// base64 (serve signs RFC 6962 tree heads with it).
	Key        string `json:"key"`
	LogID      string `json:"log_id"` // base64 SHA-256 of Key's DER
	PrivateKey string `json:"private_key"`
	Entries    int64  `json:"entries"`
	Precerts   int64  `json:"precerts"`
	// Targets are the entries naming a host under TargetSuffix.
	Targets      int64  `json:"targets"`
	TargetSuffix string `json:"target_suffix"`
	// AllSuffix is a suffix every entry's names fall under.
	AllSuffix string `json:"all_suffix"`
	// LeafBytes is the size of all entries as stored in the data tiles.
	LeafBytes int64          `json:"leaf_bytes"`
	Keys      map[string]int `json:"keys"`
	Timestamp int64          `json:"timestamp_ms"`
	Issuers   []string       `json:"issuers"` // sha256 hex of the chain certificates
}

// issuer is a CA of the corpus: its certificate (real, signed) and how its
// leaves are signed.
type issuer struct {
	der    []byte
	name   []byte // subject Name, DER
	fp     [32]byte
	keyID  []byte
	keyFP  [32]byte // SHA-256 of its SPKI (precert issuer_key_hash)
	sigAlg []byte   // AlgorithmIdentifier DER
	sigLen int
	url    string
}

var (
	algSHA256RSA   = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}
	algECDSASHA384 = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}

	oidCN         = []int{2, 5, 4, 3}
	oidKeyUsage   = []int{2, 5, 29, 15}
	oidEKU        = []int{2, 5, 29, 37}
	oidBasic      = []int{2, 5, 29, 19}
	oidSKI        = []int{2, 5, 29, 14}
	oidAKI        = []int{2, 5, 29, 35}
	oidAIA        = []int{1, 3, 6, 1, 5, 5, 7, 1, 1}
	oidPolicies   = []int{2, 5, 29, 32}
	oidSAN        = []int{2, 5, 29, 17}
	oidCRLDP      = []int{2, 5, 29, 31}
	oidSCTList    = []int{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
	oidPoison     = []int{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	oidServerAuth = []int{1, 3, 6, 1, 5, 5, 7, 3, 1}
	oidClientAuth = []int{1, 3, 6, 1, 5, 5, 7, 3, 2}
	oidOCSP       = []int{1, 3, 6, 1, 5, 5, 7, 48, 1}
	oidCAIssuers  = []int{1, 3, 6, 1, 5, 5, 7, 48, 2}
	oidDV         = []int{2, 23, 140, 1, 2, 1}
)

func genCmd(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	dir := fs.String("dir", "", "output folder (created)")
	n := fs.Int64("entries", 131072, "log entries")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *n < 1 {
		return fmt.Errorf("gen: -dir and a positive -entries are required")
	}
	began := time.Now()
	meta, err := generate(*dir, *n, *seed)
	if err != nil {
		return err
	}
	fmt.Printf("generated %d entries (%d precertificates, %d naming %s), %.0f bytes per entry, keys %v, in %v\n",
		meta.Entries, meta.Precerts, meta.Targets, meta.TargetSuffix, float64(meta.LeafBytes)/float64(meta.Entries), meta.Keys, time.Since(began).Round(time.Millisecond))
	return nil
}

type gen struct {
	rnd     *rand.Rand
	issuers []*issuer
	root    []byte
	rootFP  [32]byte
	now     time.Time
	recent  []subjectKey // recent keys, for renewals that keep theirs
	meta    *logMeta
}

func generate(dir string, n int64, seed uint64) (*logMeta, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	g := &gen{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
		meta: &logMeta{Origin: "ctbench.keyaudit.test/log", Entries: n, TargetSuffix: "target.example", AllSuffix: "example", Keys: map[string]int{}}}
	if err := g.makeIssuers(dir); err != nil {
		return nil, err
	}
	logKey, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(logKey.Public())
	if err != nil {
		return nil, err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(logKey)
	if err != nil {
		return nil, err
	}
	id := sha256.Sum256(pub)
	g.meta.Key, g.meta.PrivateKey = base64.StdEncoding.EncodeToString(pub), base64.StdEncoding.EncodeToString(priv)
	g.meta.LogID = base64.StdEncoding.EncodeToString(id[:])

	var hashes []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	ts := g.now.Add(-30 * 24 * time.Hour).UnixMilli()
	var tile []byte
	for i := int64(0); i < n; i++ {
		e := g.entry(i, ts+i*7)
		tile = sunlight.AppendTileLeaf(tile, e)
		hs, err := tlog.StoredHashes(i, e.MerkleTreeLeaf(), hr)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, hs...)
		if (i+1)%sunlight.TileWidth == 0 || i == n-1 {
			w := int(i%sunlight.TileWidth) + 1
			if err := write(dir, sunlight.TilePath(tlog.Tile{H: sunlight.TileHeight, L: -1, N: i / sunlight.TileWidth, W: w}), tile); err != nil {
				return nil, err
			}
			g.meta.LeafBytes += int64(len(tile))
			tile = tile[:0]
		}
	}
	for _, t := range tlog.NewTiles(sunlight.TileHeight, 0, n) {
		b, err := tlog.ReadTileData(t, hr)
		if err != nil {
			return nil, err
		}
		if err := write(dir, sunlight.TilePath(t), b); err != nil {
			return nil, err
		}
	}
	root, err := tlog.TreeHash(n, hr)
	if err != nil {
		return nil, err
	}
	g.meta.Timestamp = time.Now().Add(-time.Minute).UnixMilli()
	cp, err := signCheckpoint(logKey, pub, g.meta.Origin, n, root, uint64(g.meta.Timestamp))
	if err != nil {
		return nil, err
	}
	if err := write(dir, "checkpoint", cp); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(g.meta, "", "  ")
	if err != nil {
		return nil, err
	}
	return g.meta, write(dir, "log.json", b)
}

func write(dir, p string, b []byte) error {
	full := filepath.Join(dir, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	return os.WriteFile(full, b, 0o644)
}

// makeIssuers creates a root and four intermediates (two signing with
// RSA, two with ECDSA, as the big public CAs do) and writes them under
// issuer/.
func (g *gen) makeIssuers(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P384(), crand.Reader)
	if err != nil {
		return err
	}
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bench Root X1", Organization: []string{"keyaudit ctbench"}, Country: []string{"US"}},
		NotBefore: g.now.AddDate(-5, 0, 0), NotAfter: g.now.AddDate(20, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	g.root, err = x509.CreateCertificate(crand.Reader, rootTmpl, rootTmpl, key.Public(), key)
	if err != nil {
		return err
	}
	rootCert, _ := x509.ParseCertificate(g.root)
	g.rootFP = sha256.Sum256(g.root)
	if err := write(dir, "issuer/"+hex.EncodeToString(g.rootFP[:]), g.root); err != nil {
		return err
	}
	g.meta.Issuers = append(g.meta.Issuers, hex.EncodeToString(g.rootFP[:]))
	for i, name := range []string{"R10", "R11", "E5", "E6"} {
		ik, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(10 + i)), Subject: pkix.Name{CommonName: name, Organization: []string{"Bench CA"}, Country: []string{"US"}},
			NotBefore: g.now.AddDate(-1, 0, 0), NotAfter: g.now.AddDate(3, 0, 0), IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(crand.Reader, tmpl, rootCert, ik.Public(), key)
		if err != nil {
			return err
		}
		c, _ := x509.ParseCertificate(der)
		is := &issuer{der: der, name: c.RawSubject, fp: sha256.Sum256(der), keyID: c.SubjectKeyId, keyFP: sha256.Sum256(c.RawSubjectPublicKeyInfo),
			sigAlg: algSHA256RSA, sigLen: 256, url: "http://" + name + ".i.bench.test/"}
		if name[0] == 'E' {
			is.sigAlg, is.sigLen = algECDSASHA384, 103
		}
		g.issuers = append(g.issuers, is)
		if err := write(dir, "issuer/"+hex.EncodeToString(is.fp[:]), der); err != nil {
			return err
		}
		g.meta.Issuers = append(g.meta.Issuers, hex.EncodeToString(is.fp[:]))
	}
	return nil
}

// words make host names look like names.
var words = []string{"shop", "mail", "cloud", "app", "portal", "secure", "my", "dev", "static", "cdn", "blog", "news", "login",
	"store", "pay", "media", "docs", "status", "support", "files", "vpn", "git", "wiki", "id", "auth", "api", "beta", "m", "web"}

// names returns the certificate's DNS names: how many follows CT (most
// certificates name one host, or a domain and its www; some name dozens,
// a few a hundred), under one or a few registrable domains.
func (g *gen) names(i int64) []string {
	r := g.rnd.IntN(100)
	var n int
	switch {
	case r < 35:
		n = 1
	case r < 72:
		n = 2
	case r < 93:
		n = 3 + g.rnd.IntN(8)
	case r < 98:
		n = 11 + g.rnd.IntN(30)
	case r < 99:
		n = 41 + g.rnd.IntN(10)
	default:
		n = 51 + g.rnd.IntN(50)
	}
	dom := fmt.Sprintf("%s%d.example", words[g.rnd.IntN(len(words))], g.rnd.IntN(5_000_000))
	out := make([]string, 0, n)
	if n == 2 {
		out = append(out, dom, "www."+dom)
	}
	for len(out) < n {
		switch k := g.rnd.IntN(10); {
		case k == 0 && len(out) > 0:
			dom = fmt.Sprintf("%s%d.example", words[g.rnd.IntN(len(words))], g.rnd.IntN(5_000_000))
			out = append(out, dom)
		case k == 1:
			out = append(out, "*."+dom)
		default:
			out = append(out, fmt.Sprintf("%s%d.%s", words[g.rnd.IntN(len(words))], g.rnd.IntN(1000), dom))
		}
	}
	if i%1000 == 999 {
		out[len(out)-1] = fmt.Sprintf("host%d.target.example", i)
	}
	return out
}

type subjectKey struct {
	der []byte // SubjectPublicKeyInfo
	rsa bool
}

// spki returns a subject public key: a fresh one but for renewals that
// keep theirs. RSA moduli are random odd numbers of the full size (a
// parser reads them as it reads real ones; making real ones would take
// hours); ECDSA points are real.
func (g *gen) spki() subjectKey {
	if len(g.recent) > 0 && g.rnd.IntN(100) < 4 {
		return g.recent[g.rnd.IntN(len(g.recent))]
	}
	var der []byte
	var err error
	r := g.rnd.IntN(100)
	switch {
	case r < 45:
		bits := 2048
		if r >= 42 {
			bits = 4096
		}
		nb := make([]byte, bits/8)
		for j := range nb {
			nb[j] = byte(g.rnd.Uint32())
		}
		nb[0] |= 0x80
		nb[len(nb)-1] |= 1
		der, err = x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: 65537})
		g.meta.Keys[fmt.Sprintf("RSA-%d", bits)]++
	default:
		curve, name := elliptic.P256(), "P-256"
		if r >= 93 {
			curve, name = elliptic.P384(), "P-384"
		}
		var k *ecdsa.PrivateKey
		if k, err = ecdsa.GenerateKey(curve, crand.Reader); err == nil {
			der, err = x509.MarshalPKIXPublicKey(k.Public())
		}
		g.meta.Keys["ECDSA-"+name]++
	}
	if err != nil {
		panic(err) // only for an unsupported key type or curve
	}
	k := subjectKey{der: der, rsa: r < 45}
	if len(g.recent) < 256 {
		g.recent = append(g.recent, k)
	} else {
		g.recent[g.rnd.IntN(len(g.recent))] = k
	}
	return k
}

// entry makes log entry i: a precertificate (≈46%) or a certificate.
func (g *gen) entry(i, ts int64) *sunlight.LogEntry {
	is := g.issuers[g.rnd.IntN(len(g.issuers))]
	names := g.names(i)
	if names[len(names)-1] == fmt.Sprintf("host%d.target.example", i) {
		g.meta.Targets++
	}
	key := g.spki()
	precert := g.rnd.IntN(100) < 46
	serial := make([]byte, 16)
	for j := range serial {
		serial[j] = byte(g.rnd.Uint32())
	}
	serial[0] &= 0x7f
	serial[0] |= 0x01
	nb := g.now.Add(-time.Duration(g.rnd.IntN(60*24)) * time.Hour).Truncate(time.Second)
	days := 90
	if g.rnd.IntN(10) == 0 {
		days = 397
	}
	c := &certParts{issuer: is, serial: serial, notBefore: nb, notAfter: nb.Add(time.Duration(days)*24*time.Hour - time.Second),
		names: names, spki: key.der, rsa: key.rsa, clientAuth: g.rnd.IntN(2) == 0, crl: g.rnd.IntN(10) < 3,
		ov: g.rnd.IntN(10) == 0, ski: g.bytes(20)}
	e := &sunlight.LogEntry{LeafIndex: i, Timestamp: ts, ChainFingerprints: [][32]byte{is.fp, g.rootFP}}
	if precert {
		g.meta.Precerts++
		tbs := c.tbs(extPoison)
		e.IsPrecert = true
		e.Certificate = c.tbs(extNone)
		e.IssuerKeyHash = is.keyFP
		e.PreCertificate = c.cert(tbs, g.bytes(is.sigLen))
	} else {
		c.scts = 2
		if g.rnd.IntN(5) == 0 {
			c.scts = 3
		}
		c.sctBytes = g.bytes(c.scts * 119)
		e.Certificate = c.cert(c.tbs(extSCTs), g.bytes(is.sigLen))
	}
	return e
}

func (g *gen) bytes(n int) []byte {
	b := make([]byte, (n+7)/8*8)
	for j := 0; j < len(b); j += 8 {
		binary.LittleEndian.PutUint64(b[j:], g.rnd.Uint64())
	}
	return b[:n:n]
}

type certParts struct {
	issuer              *issuer
	serial              []byte
	notBefore, notAfter time.Time
	names               []string
	spki                []byte
	rsa, clientAuth     bool
	crl, ov             bool
	ski                 []byte
	scts                int
	sctBytes            []byte
}

// What the CT extensions of a TBS are: none (a precertificate's TBS as
// logged), the poison (a precertificate), the SCT list (a certificate).
const (
	extNone = iota
	extPoison
	extSCTs
)

func addOID(b *cryptobyte.Builder, oid []int) {
	b.AddASN1ObjectIdentifier(oid)
}

func addExt(b *cryptobyte.Builder, oid []int, critical bool, value func(*cryptobyte.Builder)) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addOID(b, oid)
		if critical {
			b.AddASN1Boolean(true)
		}
		b.AddASN1(cbasn1.OCTET_STRING, value)
	})
}

func addTime(b *cryptobyte.Builder, t time.Time) {
	b.AddASN1(cbasn1.UTCTime, func(b *cryptobyte.Builder) { b.AddBytes([]byte(t.UTC().Format("060102150405Z"))) })
}

func (c *certParts) tbs(kind int) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1Int64(2) })
		b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(c.serial) })
		b.AddBytes(c.issuer.sigAlg)
		b.AddBytes(c.issuer.name)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { addTime(b, c.notBefore); addTime(b, c.notAfter) })
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			attr := func(oid []int, v string) {
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						addOID(b, oid)
						b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(v)) })
					})
				})
			}
			if c.ov {
				attr([]int{2, 5, 4, 6}, "DE")
				attr([]int{2, 5, 4, 7}, "Berlin")
				attr([]int{2, 5, 4, 10}, "Example Handels GmbH")
			}
			attr(oidCN, c.names[0])
		})
		b.AddBytes(c.spki)
		b.AddASN1(cbasn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addExt(b, oidKeyUsage, true, func(b *cryptobyte.Builder) {
					if c.rsa {
						b.AddASN1BitString([]byte{0xa0}) // digitalSignature, keyEncipherment
					} else {
						b.AddASN1BitString([]byte{0x80})
					}
				})
				addExt(b, oidEKU, false, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						addOID(b, oidServerAuth)
						if c.clientAuth {
							addOID(b, oidClientAuth)
						}
					})
				})
				addExt(b, oidBasic, true, func(b *cryptobyte.Builder) { b.AddASN1(cbasn1.SEQUENCE, func(*cryptobyte.Builder) {}) })
				addExt(b, oidSKI, false, func(b *cryptobyte.Builder) { b.AddASN1OctetString(c.ski) })
				addExt(b, oidAKI, false, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(c.issuer.keyID) })
					})
				})
				addExt(b, oidAIA, false, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						for _, ad := range []struct {
							oid []int
							url string
						}{{oidOCSP, c.issuer.url + "ocsp"}, {oidCAIssuers, c.issuer.url + "cert.der"}} {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								addOID(b, ad.oid)
								b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(ad.url)) })
							})
						}
					})
				})
				addExt(b, oidSAN, false, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						for _, n := range c.names {
							b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(n)) })
						}
					})
				})
				addExt(b, oidPolicies, false, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { addOID(b, oidDV) })
					})
				})
				if c.crl {
					addExt(b, oidCRLDP, false, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
									b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
										b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.issuer.url + "crl/17.crl")) })
									})
								})
							})
						})
					})
				}
				switch kind {
				case extPoison:
					addExt(b, oidPoison, true, func(b *cryptobyte.Builder) { b.AddASN1NULL() })
				case extSCTs:
					addExt(b, oidSCTList, false, func(b *cryptobyte.Builder) {
						b.AddASN1OctetString(sctList(c.sctBytes, c.scts))
					})
				}
			})
		})
	})
	return b.BytesOrPanic()
}

// sctList is a SignedCertificateTimestampList of n SCTs made of raw.
func sctList(raw []byte, n int) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		per := len(raw) / n
		for k := 0; k < n; k++ {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(raw[k*per : (k+1)*per]) })
		}
	})
	return b.BytesOrPanic()
}

func (c *certParts) cert(tbs, sig []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(c.issuer.sigAlg)
		b.AddASN1BitString(sig)
	})
	return b.BytesOrPanic()
}

// signCheckpoint signs a static-ct-api checkpoint: a note whose signature
// is an RFC 6962 TreeHeadSignature with its timestamp.
func signCheckpoint(key *ecdsa.PrivateKey, pub []byte, origin string, n int64, root tlog.Hash, ts uint64) ([]byte, error) {
	sig, err := sthSignature(key, uint64(n), ts, root)
	if err != nil {
		return nil, err
	}
	keyID := sha256.Sum256(pub)
	h := sha256.New()
	h.Write([]byte(origin + "\n\x05"))
	h.Write(keyID[:])
	var b cryptobyte.Builder
	b.AddUint64(ts)
	b.AddUint8(uint8(sig.Algorithm.Hash))
	b.AddUint8(uint8(sig.Algorithm.Signature))
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sig.Signature) })
	s := &noteSigner{name: origin, hash: binary.BigEndian.Uint32(h.Sum(nil)), sig: b.BytesOrPanic()}
	return note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", origin, n, base64.StdEncoding.EncodeToString(root[:]))}, s)
}

func sthSignature(key *ecdsa.PrivateKey, size, ts uint64, root tlog.Hash) (cttls.DigitallySigned, error) {
	in, err := ct.SerializeSTHSignatureInput(ct.SignedTreeHead{Version: ct.V1, TreeSize: size, Timestamp: ts, SHA256RootHash: ct.SHA256Hash(root)})
	if err != nil {
		return cttls.DigitallySigned{}, err
	}
	return cttls.CreateSignature(*key, cttls.SHA256, in)
}

type noteSigner struct {
	name string
	hash uint32
	sig  []byte
}

func (s *noteSigner) Name() string                { return s.name }
func (s *noteSigner) KeyHash() uint32             { return s.hash }
func (s *noteSigner) Sign([]byte) ([]byte, error) { return s.sig, nil }
