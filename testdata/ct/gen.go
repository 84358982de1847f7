//go:build ignore

// gen writes the Certificate Transparency fixtures of testdata/ct:
//
//	certs/*.pem      certificates and precertificates, each with a text
//	                 summary above the PEM block, including malformed ones
//	                 Go's parser refuses (negative serial) for the lenient path
//	log-key.pem      a log's public key
//	checkpoint       a static-ct-api checkpoint signed by that key
//	tile-data.bin    the data tile of that checkpoint (5 entries, partial)
//	leaf-*.bin       RFC 6962 MerkleTreeLeaf / extra_data of those entries
//	log_list.json    a Chrome log list v3 with every state, RFC 6962 and
//	                 tiled logs, keys and log IDs that match
//
// Run from the repository root: go run ./testdata/ct/gen.go
// (or go generate ./ctlog). Signatures are randomised, so each run
// rewrites the files; the tests only rely on their structure.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/sunlight"
	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var out = flag.String("out", "testdata/ct", "output directory")

var (
	oidPoison  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	oidSCTList = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
	notBefore  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

func write(name string, b []byte) {
	p := filepath.Join(*out, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newRoot() issuer {
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyaudit fixture root", Organization: []string{"keyaudit"}},
		NotBefore: notBefore, NotAfter: notBefore.AddDate(20, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key))
	return issuer{must(x509.ParseCertificate(der)), key}
}

var leafKey = must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))

func (ca issuer) issue(serial int64, cn string, names []string, exts ...pkix.Extension) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notBefore.AddDate(0, 3, 0), ExtraExtensions: exts,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return must(x509.CreateCertificate(rand.Reader, tmpl, ca.cert, leafKey.Public(), ca.key))
}

// withNegativeSerial re-signs der with serial -1, which crypto/x509
// refuses and zcrypto accepts (some CAs did issue such certificates).
func (ca issuer) withNegativeSerial(der []byte) []byte {
	c := must(x509.ParseCertificate(der))
	in := cryptobyte.String(c.RawTBSCertificate)
	var body cryptobyte.String
	in.ReadASN1(&body, cbasn1.SEQUENCE)
	var version, serial cryptobyte.String
	body.ReadASN1Element(&version, cbasn1.Tag(0).Constructed().ContextSpecific())
	body.ReadASN1Element(&serial, cbasn1.INTEGER)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(version)
		b.AddBytes([]byte{0x02, 0x01, 0xff}) // INTEGER -1
		b.AddBytes(body)
	})
	tbs := b.BytesOrPanic()
	h := sha256.Sum256(tbs)
	sig := must(ecdsa.SignASN1(rand.Reader, ca.key, h[:]))
	var cb cryptobyte.Builder
	cb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2})
		})
		b.AddASN1BitString(sig)
	})
	return cb.BytesOrPanic()
}

func pemWithText(der []byte, note string) []byte {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# %s\n", note)
	if c, err := x509.ParseCertificate(der); err == nil {
		fmt.Fprintf(&sb, "# Subject: %s\n# Issuer: %s\n# Serial: %s\n# DNS names: %s\n# Not after: %s\n",
			c.Subject, c.Issuer, c.SerialNumber, strings.Join(c.DNSNames, ", "), c.NotAfter.Format(time.RFC3339))
		for _, e := range c.Extensions {
			if e.Id.Equal(oidPoison) {
				fmt.Fprintf(&sb, "# CT poison extension (critical): this is a precertificate\n")
			}
			if e.Id.Equal(oidSCTList) {
				fmt.Fprintf(&sb, "# Embedded SCT list\n")
			}
		}
	} else {
		fmt.Fprintf(&sb, "# crypto/x509 refuses it: %v\n", err)
	}
	fmt.Fprintf(&sb, "# SHA-256: %x\n", sha256.Sum256(der))
	return append([]byte(sb.String()), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
}

func main() {
	flag.Parse()
	root := newRoot()
	write("certs/root.pem", pemWithText(root.cert.Raw, "fixture root CA"))

	cert := root.issue(2, "www.example.com", []string{"www.example.com", "example.com"})
	poison := pkix.Extension{Id: oidPoison, Critical: true, Value: []byte{5, 0}}
	pre := root.issue(3, "pre.example.com", []string{"pre.example.com", "*.pre.example.com"}, poison)
	sctList := pkix.Extension{Id: oidSCTList, Value: must(asn1.Marshal([]byte{0, 0}))}
	final := root.issue(3, "pre.example.com", []string{"pre.example.com", "*.pre.example.com"}, sctList)
	cnOnly := root.issue(4, "legacy.example.net", nil)
	idnCN := root.issue(5, "bücher.example.org", nil)
	negative := root.withNegativeSerial(root.issue(6, "negative.example.com", []string{"negative.example.com"}))
	write("certs/cert.pem", pemWithText(cert, "certificate for www.example.com and example.com"))
	write("certs/precert.pem", pemWithText(pre, "precertificate (poison) for pre.example.com"))
	write("certs/final.pem", pemWithText(final, "the certificate of precert.pem: same TBS but the SCT list instead of the poison"))
	write("certs/cn-only.pem", pemWithText(cnOnly, "no SAN: the name is only in the CN"))
	write("certs/idn-cn.pem", pemWithText(idnCN, "Unicode IDN in the CN (U-label)"))
	write("certs/negative-serial.pem", pemWithText(negative, "negative serial: only the lenient parser (zcrypto) accepts it"))

	// A static-ct-api log with five entries.
	logKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	pub := must(x509.MarshalPKIXPublicKey(logKey.Public()))
	write("log-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	var hashes []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		o := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			o[i] = hashes[x]
		}
		return o, nil
	})
	rootFP := sha256.Sum256(root.cert.Raw)
	var tile []byte
	for i, der := range [][]byte{cert, pre, final, cnOnly, negative} {
		e := &sunlight.LogEntry{Certificate: der, LeafIndex: int64(i), Timestamp: notBefore.UnixMilli() + int64(i), ChainFingerprints: [][32]byte{rootFP}}
		var extra cryptobyte.Builder
		if i == 1 {
			c := must(ctx509.ParseCertificate(der))
			e.IsPrecert, e.PreCertificate = true, der
			e.Certificate = must(ctx509.RemoveCTPoison(c.RawTBSCertificate))
			e.IssuerKeyHash = sha256.Sum256(root.cert.RawSubjectPublicKeyInfo)
			extra.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(der) })
		}
		extra.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(root.cert.Raw) })
		})
		tile = sunlight.AppendTileLeaf(tile, e)
		leaf := e.MerkleTreeLeaf()
		write(fmt.Sprintf("leaf-%d.bin", i), leaf)
		write(fmt.Sprintf("extra-%d.bin", i), extra.BytesOrPanic())
		hashes = append(hashes, must(tlog.StoredHashes(int64(i), leaf, hr))...)
	}
	write("tile-data.bin", tile)
	treeRoot := must(tlog.TreeHash(5, hr))
	ts := uint64(notBefore.UnixMilli() + 10)
	in := must(ct.SerializeSTHSignatureInput(ct.SignedTreeHead{Version: ct.V1, TreeSize: 5, Timestamp: ts, SHA256RootHash: ct.SHA256Hash(treeRoot)}))
	sig := must(cttls.CreateSignature(*logKey, cttls.SHA256, in))
	origin := "fixture.keyaudit.test/log"
	keyID := sha256.Sum256(pub)
	kh := sha256.New()
	kh.Write([]byte(origin + "\n\x05"))
	kh.Write(keyID[:])
	var sb cryptobyte.Builder
	sb.AddUint64(ts)
	sb.AddUint8(uint8(sig.Algorithm.Hash))
	sb.AddUint8(uint8(sig.Algorithm.Signature))
	sb.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sig.Signature) })
	signer := &fixedSigner{origin, binary.BigEndian.Uint32(kh.Sum(nil)), sb.BytesOrPanic()}
	write("checkpoint", must(note.Sign(&note.Note{Text: fmt.Sprintf("%s\n5\n%s\n", origin, base64.StdEncoding.EncodeToString(treeRoot[:]))}, signer)))

	write("log_list.json", logList())
}

type fixedSigner struct {
	name string
	hash uint32
	sig  []byte
}

func (s *fixedSigner) Name() string                { return s.name }
func (s *fixedSigner) KeyHash() uint32             { return s.hash }
func (s *fixedSigner) Sign([]byte) ([]byte, error) { return s.sig, nil }

func logList() []byte {
	newKey := func() (string, string) {
		k := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		der := must(x509.MarshalPKIXPublicKey(k.Public()))
		id := sha256.Sum256(der)
		return base64.StdEncoding.EncodeToString(der), base64.StdEncoding.EncodeToString(id[:])
	}
	state := func(name string) map[string]any {
		s := map[string]any{"timestamp": "2025-06-01T00:00:00Z"}
		if name == "readonly" {
			s["final_tree_head"] = map[string]any{"sha256_root_hash": base64.StdEncoding.EncodeToString(make([]byte, 32)), "tree_size": 123456}
		}
		return map[string]any{name: s}
	}
	interval := map[string]any{"start_inclusive": "2026-01-01T00:00:00Z", "end_exclusive": "2026-07-01T00:00:00Z"}
	rfcLog := func(desc, url, st string) map[string]any {
		k, id := newKey()
		return map[string]any{"description": desc, "log_id": id, "key": k, "url": url, "mmd": 86400, "state": state(st), "temporal_interval": interval}
	}
	tiledLog := func(desc, sub, mon, st string) map[string]any {
		k, id := newKey()
		return map[string]any{"description": desc, "log_id": id, "key": k, "submission_url": sub, "monitoring_url": mon, "mmd": 60, "state": state(st), "temporal_interval": interval}
	}
	list := map[string]any{
		"version":            "1.0.0-fixture",
		"log_list_timestamp": "2026-01-15T12:00:00Z",
		"operators": []any{
			map[string]any{"name": "Example RFC 6962 Operator", "email": []string{"ct@example.org"}, "logs": []any{
				rfcLog("Example 'Usable2026h1'", "https://ct.example.org/usable2026h1/", "usable"),
				rfcLog("Example 'Qualified2026h2'", "https://ct.example.org/qualified2026h2/", "qualified"),
				rfcLog("Example 'Frozen2025'", "https://ct.example.org/frozen2025/", "readonly"),
				rfcLog("Example 'Retired2024'", "https://ct.example.org/retired2024/", "retired"),
			}, "tiled_logs": []any{}},
			map[string]any{"name": "Example Tiled Operator", "email": []string{"tiles@example.net"}, "logs": []any{}, "tiled_logs": []any{
				tiledLog("Example Tiles 'Usable2026h1'", "https://submit.example.net/2026h1/", "https://tiles.example.net/2026h1/", "usable"),
				tiledLog("Example Tiles 'Pending2026h2'", "https://submit.example.net/2026h2/", "https://tiles.example.net/2026h2/", "pending"),
				tiledLog("Example Tiles 'Rejected'", "https://submit.example.net/bad/", "https://tiles.example.net/bad/", "rejected"),
			}},
		},
	}
	return append(must(json.MarshalIndent(list, "", "  ")), '\n')
}

var _ crypto.Signer = (*ecdsa.PrivateKey)(nil)
