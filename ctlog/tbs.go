package ctlog

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"hash"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	zx509 "github.com/zmap/zcrypto/x509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Extension OIDs that differ between a precertificate and its
// certificate (RFC 6962 §3.1, §3.3).
var (
	oidPoison  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	oidSCTList = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
	oidSAN     = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidCN      = asn1.ObjectIdentifier{2, 5, 4, 3}
)

var errTBS = errors.New("ctlog: malformed TBSCertificate")

// tbsFields are the parts of a TBSCertificate the monitor uses. Slices
// point into the input.
type tbsFields struct {
	prefix  []byte // everything before the extensions, as encoded
	serial  []byte // INTEGER contents
	sigAlg  []byte // the signature AlgorithmIdentifier element
	issuer  []byte // Name element
	valid   []byte // Validity contents
	subject []byte // Name contents
	subjEl  []byte // Name element
	spki    []byte // SubjectPublicKeyInfo element
	exts    []extension
}

type extension struct {
	raw   []byte // the whole Extension element
	oid   cryptobyte.String
	value cryptobyte.String
}

// parseTBS splits a DER TBSCertificate. It is lenient about what it does
// not need (serial encoding, validity, key) and strict about structure.
func parseTBS(tbs []byte) (tbsFields, error) {
	return parseTBSInto(tbs, nil)
}

// parseTBSInto is parseTBS appending the extensions to exts (a buffer the
// caller reuses from one certificate to the next).
func parseTBSInto(tbs []byte, buf []extension) (tbsFields, error) {
	f := tbsFields{exts: buf[:0]}
	in := cryptobyte.String(tbs)
	var body cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) || !in.Empty() {
		return f, errTBS
	}
	start := len(body)
	all := body
	if !body.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return f, errTBS
	}
	var tag cbasn1.Tag
	var el cryptobyte.String
	// serial, signature, issuer, validity, subject, subjectPublicKeyInfo
	for i := 0; i < 6; i++ {
		var contents cryptobyte.String
		if !body.ReadAnyASN1Element(&el, &tag) {
			return f, errTBS
		}
		switch i {
		case 0:
			contents = el
			if tag != cbasn1.INTEGER || !contents.ReadASN1(&contents, cbasn1.INTEGER) {
				return f, errTBS
			}
			f.serial = contents
		case 1:
			f.sigAlg = el
		case 2:
			f.issuer = el
		case 3:
			contents = el
			if tag != cbasn1.SEQUENCE || !contents.ReadASN1(&contents, cbasn1.SEQUENCE) {
				return f, errTBS
			}
			f.valid = contents
		case 4:
			if tag != cbasn1.SEQUENCE {
				return f, errTBS
			}
			contents = el
			if !contents.ReadASN1(&contents, cbasn1.SEQUENCE) {
				return f, errTBS
			}
			f.subject, f.subjEl = contents, el
		case 5:
			f.spki = el
		}
	}
	// issuerUniqueID [1], subjectUniqueID [2]
	if !body.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific()) ||
		!body.SkipOptionalASN1(cbasn1.Tag(2).ContextSpecific()) {
		return f, errTBS
	}
	f.prefix = all[:start-len(body)]
	if body.Empty() {
		return f, nil
	}
	var wrapper, exts cryptobyte.String
	if !body.ReadASN1(&wrapper, cbasn1.Tag(3).Constructed().ContextSpecific()) || !body.Empty() ||
		!wrapper.ReadASN1(&exts, cbasn1.SEQUENCE) || !wrapper.Empty() {
		return f, errTBS
	}
	for !exts.Empty() {
		var e extension
		var raw, inner cryptobyte.String
		if !exts.ReadASN1Element(&raw, cbasn1.SEQUENCE) {
			return f, errTBS
		}
		e.raw = raw
		if !raw.ReadASN1(&inner, cbasn1.SEQUENCE) ||
			!inner.ReadASN1(&e.oid, cbasn1.OBJECT_IDENTIFIER) ||
			!inner.SkipOptionalASN1(cbasn1.BOOLEAN) ||
			!inner.ReadASN1(&e.value, cbasn1.OCTET_STRING) || !inner.Empty() {
			return f, errTBS
		}
		f.exts = append(f.exts, e)
	}
	return f, nil
}

// oidBytes returns the DER contents of an OID, for fast comparison.
func oidBytes(oid asn1.ObjectIdentifier) string {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return string(b[2:])
}

var (
	oidPoisonBytes  = oidBytes(oidPoison)
	oidSCTListBytes = oidBytes(oidSCTList)
	oidSANBytes     = oidBytes(oidSAN)
	oidCNBytes      = oidBytes(oidCN)
)

// dedupTBS returns tbs without the CT poison and SCT list extensions: the
// part a precertificate and its certificate share (RFC 6962 §3.2). The
// extensions wrapper is dropped when nothing remains, so both sides of a
// pair normalise to the same bytes. The monitor only needs its hash
// (matcher.dedupHash, hashTBS); this builds the bytes that hash is of,
// which the tests compare it with.
func dedupTBS(tbs []byte) ([]byte, error) {
	f, err := parseTBS(tbs)
	if err != nil {
		return nil, err
	}
	return buildTBS(f, notCTExtension)
}

// notCTExtension keeps what a precertificate and its certificate share:
// every extension but the CT poison and the SCT list.
func notCTExtension(e extension) bool {
	o := string(e.oid)
	return o != oidPoisonBytes && o != oidSCTListBytes
}

func buildTBS(f tbsFields, keep func(extension) bool) ([]byte, error) {
	var kept [][]byte
	for _, e := range f.exts {
		if keep(e) {
			kept = append(kept, e.raw)
		}
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, len(f.prefix)+64))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(f.prefix)
		if len(kept) == 0 {
			return
		}
		b.AddASN1(cbasn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, k := range kept {
					b.AddBytes(k)
				}
			})
		})
	})
	return b.Bytes()
}

// hashTBS returns the SHA-256 of buildTBS(f, keep) without building it
// (it runs on every matched entry): the headers buildTBS would write are
// worked out from the kept extensions' lengths and hashed with the parts
// of f, in order. h is reset first; hdr is a scratch buffer, returned for
// reuse.
func hashTBS(h hash.Hash, hdr []byte, f tbsFields, keep func(extension) bool) (sum [32]byte, scratch []byte) {
	kept := 0
	for _, e := range f.exts {
		if keep(e) {
			kept += len(e.raw)
		}
	}
	body := len(f.prefix)
	var seq, wrap []byte
	hdr = hdr[:0]
	if kept > 0 {
		hdr = appendDERHeader(hdr, 0x30, kept)
		seq = hdr
		hdr = appendDERHeader(hdr, 0xa3, len(seq)+kept)
		wrap = hdr[len(seq):]
		body += len(wrap) + len(seq) + kept
	}
	n := len(hdr)
	hdr = appendDERHeader(hdr, 0x30, body)
	h.Reset()
	h.Write(hdr[n:])
	h.Write(f.prefix)
	if kept > 0 {
		h.Write(wrap)
		h.Write(seq)
		for _, e := range f.exts {
			if keep(e) {
				h.Write(e.raw)
			}
		}
	}
	h.Sum(sum[:0])
	return sum, hdr
}

// appendDERHeader appends a DER identifier octet and a definite length in
// its shortest form, as cryptobyte writes them.
func appendDERHeader(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
	if n < 0x80 {
		return append(b, byte(n))
	}
	k := 0
	for v := n; v > 0; v >>= 8 {
		k++
	}
	b = append(b, 0x80|byte(k))
	for i := k - 1; i >= 0; i-- {
		b = append(b, byte(n>>(8*i)))
	}
	return b
}

// certTBS returns the TBSCertificate element of a DER certificate.
func certTBS(cert []byte) ([]byte, error) {
	in := cryptobyte.String(cert)
	var body, tbs cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1Element(&tbs, cbasn1.SEQUENCE) {
		return nil, errTBS
	}
	return tbs, nil
}

// wrapTBS makes a parseable certificate out of a bare TBSCertificate (a
// precertificate leaf) by adding its own algorithm and an empty
// signature. Parsers read it; nothing verifies that signature.
func wrapTBS(tbs []byte) ([]byte, error) {
	var alg []byte
	if f, err := parseTBS(tbs); err == nil {
		alg = f.sigAlg
	} else {
		// Leave the judgement to the lenient parser; it only needs some
		// algorithm to read the rest.
		in := cryptobyte.String(tbs)
		var el cryptobyte.String
		if !in.ReadASN1Element(&el, cbasn1.SEQUENCE) || !in.Empty() {
			return nil, errTBS
		}
		alg = ecdsaWithSHA256
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, len(tbs)+32))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(alg)
		b.AddASN1BitString([]byte{0})
	})
	return b.Bytes()
}

// ecdsaWithSHA256 is the AlgorithmIdentifier SEQUENCE { 1.2.840.10045.4.3.2 }.
var ecdsaWithSHA256 = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}

// tbsNames extracts the DNS names of a TBSCertificate: dNSName SANs and
// the subject CNs, raw (not normalised). It parses only what it needs,
// which makes it several times cheaper than a full certificate parse —
// it runs on every log entry.
func tbsNames(tbs []byte) (dns []string, cns []string, err error) {
	f, err := parseTBS(tbs)
	if err != nil {
		return nil, nil, err
	}
	return f.names()
}

// mayMatch reports whether a name of f may fall under w (Watchlist.mayCover
// of each dNSName SAN and CN), without allocating; anything it cannot
// read plainly (a malformed SAN, a CN in another string type) is a maybe.
func (f *tbsFields) mayMatch(w *Watchlist) bool {
	for _, e := range f.exts {
		if string(e.oid) != oidSANBytes {
			continue
		}
		v := e.value
		var seq cryptobyte.String
		if !v.ReadASN1(&seq, cbasn1.SEQUENCE) || !v.Empty() {
			return true
		}
		for !seq.Empty() {
			var gn cryptobyte.String
			var tag cbasn1.Tag
			if !seq.ReadAnyASN1(&gn, &tag) {
				return true
			}
			if tag == cbasn1.Tag(2).ContextSpecific() && w.mayCover(gn) {
				return true
			}
		}
	}
	subj := cryptobyte.String(f.subject)
	for !subj.Empty() {
		var set cryptobyte.String
		if !subj.ReadASN1(&set, cbasn1.SET) {
			return true
		}
		for !set.Empty() {
			var atv, oid, val cryptobyte.String
			var tag cbasn1.Tag
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || !atv.ReadAnyASN1(&val, &tag) {
				return true
			}
			if string(oid) != oidCNBytes {
				continue
			}
			if (tag != cbasn1.UTF8String && tag != cbasn1.PrintableString && tag != cbasn1.IA5String) || w.mayCover(val) {
				return true
			}
		}
	}
	return false
}

// names is tbsNames of parsed fields.
func (f *tbsFields) names() (dns []string, cns []string, err error) {
	for _, e := range f.exts {
		if string(e.oid) != oidSANBytes {
			continue
		}
		v := e.value
		var seq cryptobyte.String
		if !v.ReadASN1(&seq, cbasn1.SEQUENCE) || !v.Empty() {
			return nil, nil, errTBS
		}
		for !seq.Empty() {
			var gn cryptobyte.String
			var tag cbasn1.Tag
			if !seq.ReadAnyASN1(&gn, &tag) {
				return nil, nil, errTBS
			}
			if tag == cbasn1.Tag(2).ContextSpecific() {
				dns = append(dns, string(gn))
			}
		}
	}
	subj := cryptobyte.String(f.subject)
	for !subj.Empty() {
		var set cryptobyte.String
		if !subj.ReadASN1(&set, cbasn1.SET) {
			return nil, nil, errTBS
		}
		for !set.Empty() {
			var atv, oid, val cryptobyte.String
			var tag cbasn1.Tag
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) ||
				!atv.ReadAnyASN1(&val, &tag) {
				return nil, nil, errTBS
			}
			if string(oid) == oidCNBytes {
				cns = append(cns, decodeDirectoryString(tag, val))
			}
		}
	}
	return dns, cns, nil
}

// decodeDirectoryString decodes the string types a CN appears in.
func decodeDirectoryString(tag cbasn1.Tag, v []byte) string {
	switch tag {
	case cbasn1.Tag(30): // BMPString, UTF-16BE
		if len(v)%2 != 0 {
			return ""
		}
		u := make([]uint16, len(v)/2)
		for i := range u {
			u[i] = uint16(v[2*i])<<8 | uint16(v[2*i+1])
		}
		return string(utf16.Decode(u))
	case cbasn1.Tag(28): // UniversalString, UTF-32BE
		if len(v)%4 != 0 {
			return ""
		}
		var sb strings.Builder
		for i := 0; i < len(v); i += 4 {
			sb.WriteRune(rune(uint32(v[i])<<24 | uint32(v[i+1])<<16 | uint32(v[i+2])<<8 | uint32(v[i+3])))
		}
		return sb.String()
	case cbasn1.Tag(20): // T61String: treat as Latin-1
		if utf8.Valid(v) {
			return string(v)
		}
		r := make([]rune, len(v))
		for i, c := range v {
			r[i] = rune(c)
		}
		return string(r)
	}
	return string(v)
}

// lenientNames is the slow path for a certificate tbsNames refuses: Go's
// parser, then zcrypto's, which accepts much of what broken CAs emit.
func lenientNames(certDER []byte) (dns, cns []string, err error) {
	if c, err := x509.ParseCertificate(certDER); err == nil {
		return c.DNSNames, nonEmpty(c.Subject.CommonName), nil
	}
	c, err := zx509.ParseCertificate(certDER)
	if err != nil {
		return nil, nil, err
	}
	return c.DNSNames, nonEmpty(c.Subject.CommonName), nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// dnsNames merges and normalises SAN names and the CNs that look like DNS
// names (a dot, or an IDNA dot equivalent, once normalised), sorted and
// without duplicates. Names holding a NUL byte are not DNS names; they
// are returned apart, raw, in nul.
func dnsNames(dns, cns []string) (names, nul []string) {
	names = make([]string, 0, len(dns)+len(cns))
	for _, n := range dns {
		if strings.IndexByte(n, 0) >= 0 {
			nul = append(nul, n)
		} else if d, ok := NormalizeName(n); ok {
			names = append(names, d)
		}
	}
	for _, n := range cns {
		if strings.IndexByte(n, 0) >= 0 {
			nul = append(nul, n)
		} else if d, ok := NormalizeName(n); ok && strings.Contains(d, ".") {
			names = append(names, d)
		}
	}
	return sortCompact(names), nul
}

// nulPrefix is the DNS name a client that stops at the first NUL reads
// in name (the null-prefix attack), normalised; ok is false when that
// part is no DNS name.
func nulPrefix(name string) (string, bool) {
	i := strings.IndexByte(name, 0)
	if i < 0 {
		return "", false
	}
	d, ok := NormalizeName(name[:i])
	return d, ok && strings.Contains(d, ".")
}
