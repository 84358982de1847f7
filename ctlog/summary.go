package ctlog

import (
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/hex"
	"time"
	"unicode/utf8"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// certSummary is what a sighting records of its certificate besides its
// names, read from the TBSCertificate the monitor already walked for the
// names: one parse per entry, where a full certificate parse (and its
// key analysis, which a sighting does not record) would cost several
// times more on every matched entry.
type certSummary struct {
	spkiSHA256, issuer, subject, serial string
	notBefore, notAfter                 time.Time
}

// maxCachedNames bounds the matcher's cache of issuer names.
const maxCachedNames = 4096

// summary reads f as crypto/x509 (and certinfo) would: the same strings
// for the issuer, subject and serial, the same instants. ok is false for
// what crypto/x509 refuses or reads differently (a negative serial, a
// name in a string type it does not decode alike): the caller then asks
// certinfo, which also knows when only the lenient parser accepts it.
func (m *matcher) summary(f *tbsFields) (certSummary, bool) {
	var c certSummary
	serial, ok := serialHex(f.serial)
	if !ok {
		return c, false
	}
	c.serial = serial
	v := cryptobyte.String(f.valid)
	if !readTime(&v, &c.notBefore) || !readTime(&v, &c.notAfter) || !v.Empty() {
		return c, false
	}
	if c.issuer, ok = m.issuerName(f.issuer); !ok {
		return c, false
	}
	if c.subject, ok = nameString(f.subjEl); !ok {
		return c, false
	}
	h := sha256.Sum256(f.spki)
	c.spkiSHA256 = certinfo.HexSum(h)
	return c, true
}

// issuerName is nameString, remembered: a log's entries come from a few
// hundred issuers.
func (m *matcher) issuerName(raw []byte) (string, bool) {
	if s, ok := m.names[string(raw)]; ok {
		return s, true
	}
	s, ok := nameString(raw)
	if !ok {
		return "", false
	}
	if m.names == nil || len(m.names) >= maxCachedNames {
		m.names = make(map[string]string, 64)
	}
	m.names[string(raw)] = s
	return s, true
}

// nameString is pkix.Name.String of a DER Name, decoded as crypto/x509
// decodes it (parseName): ok is false for a malformed name or a string
// type this fast path leaves to certinfo (T61String, BMPString).
func nameString(raw []byte) (string, bool) {
	if s, ok := cnOnlyName(raw); ok {
		return s, true
	}
	in := cryptobyte.String(raw)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return "", false
	}
	var rdns pkix.RDNSequence
	for !seq.Empty() {
		var set cryptobyte.String
		if !seq.ReadASN1(&set, cbasn1.SET) {
			return "", false
		}
		var rdn pkix.RelativeDistinguishedNameSET
		for !set.Empty() {
			var atv, val cryptobyte.String
			var attr pkix.AttributeTypeAndValue
			var tag cbasn1.Tag
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1ObjectIdentifier(&attr.Type) || !atv.ReadAnyASN1(&val, &tag) {
				return "", false
			}
			s, ok := directoryString(tag, val)
			if !ok {
				return "", false
			}
			attr.Value = s
			rdn = append(rdn, attr)
		}
		rdns = append(rdns, rdn)
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdns)
	return n.String(), true
}

// cnOnlyName is nameString's shortcut for the subject most certificates
// in a log have: nothing, or a single common name made of host-name
// characters, which pkix.Name.String renders as "CN=" and the value,
// unescaped. ok is false for anything else.
func cnOnlyName(raw []byte) (string, bool) {
	in := cryptobyte.String(raw)
	var seq, set, atv, oid, val cryptobyte.String
	var tag cbasn1.Tag
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return "", false
	}
	if seq.Empty() {
		return "", true
	}
	if !seq.ReadASN1(&set, cbasn1.SET) || !seq.Empty() ||
		!set.ReadASN1(&atv, cbasn1.SEQUENCE) || !set.Empty() ||
		!atv.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || string(oid) != oidCNBytes ||
		!atv.ReadAnyASN1(&val, &tag) || !atv.Empty() || len(val) == 0 {
		return "", false
	}
	printable := tag == cbasn1.PrintableString
	if !printable && tag != cbasn1.UTF8String {
		return "", false
	}
	for _, b := range val {
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '-', b == '*':
		case b == '_' && !printable:
		default:
			return "", false
		}
	}
	return "CN=" + string(val), true
}

// directoryString decodes the attribute value types crypto/x509 decodes
// to the same string, with its checks.
func directoryString(tag cbasn1.Tag, v []byte) (string, bool) {
	switch tag {
	case cbasn1.PrintableString:
		for _, b := range v {
			if !x509Printable(b) {
				return "", false
			}
		}
	case cbasn1.UTF8String:
		if !utf8.Valid(v) {
			return "", false
		}
	case cbasn1.IA5String:
		for _, b := range v {
			if b >= utf8.RuneSelf {
				return "", false
			}
		}
	case cbasn1.Tag(18): // NumericString
		for _, b := range v {
			if (b < '0' || b > '9') && b != ' ' {
				return "", false
			}
		}
	default:
		return "", false
	}
	return string(v), true
}

// x509Printable is crypto/x509's PrintableString alphabet, with the '*'
// and '&' it tolerates.
func x509Printable(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		'\'' <= b && b <= ')' || '+' <= b && b <= '/' ||
		b == ' ' || b == ':' || b == '=' || b == '?' || b == '*' || b == '&'
}

// serialHex renders the contents of a DER INTEGER as certinfo does:
// lower-case hex of its magnitude, "00" for zero. ok is false for a
// negative or non-minimally encoded serial (crypto/x509 refuses both).
func serialHex(b []byte) (string, bool) {
	switch {
	case len(b) == 0 || b[0]&0x80 != 0:
		return "", false
	case len(b) > 1 && b[0] == 0 && b[1]&0x80 == 0:
		return "", false
	}
	if b[0] == 0 {
		b = b[1:]
	}
	if len(b) == 0 {
		return "00", true
	}
	return hex.EncodeToString(b), true
}

// readTime reads a UTCTime or GeneralizedTime, as crypto/x509 does.
func readTime(s *cryptobyte.String, t *time.Time) bool {
	if v, ok := fastTime(*s); ok {
		*t = v
		s.Skip(2 + int((*s)[1]))
		return true
	}
	var ok bool
	switch {
	case s.PeekASN1Tag(cbasn1.UTCTime):
		ok = s.ReadASN1UTCTime(t)
	case s.PeekASN1Tag(cbasn1.GeneralizedTime):
		ok = s.ReadASN1GeneralizedTime(t)
	}
	*t = t.UTC()
	return ok
}

// fastTime reads the two forms certificates use (RFC 5280 4.1.2.5):
// UTCTime YYMMDDHHMMSSZ and GeneralizedTime YYYYMMDDHHMMSSZ, at the start
// of s, as cryptobyte reads them (a UTCTime year from 50 is 19YY); ok is
// false for anything else — other forms, or a date or time out of range —
// which readTime leaves to cryptobyte. Two per matched entry, through
// time.Parse, were a few per cent of a broad watch.
func fastTime(s []byte) (t time.Time, ok bool) {
	if len(s) < 2 {
		return t, false
	}
	var d []byte
	year := 0
	switch {
	case s[0] == byte(cbasn1.UTCTime) && s[1] == 13 && len(s) >= 15:
		d = s[2:15]
		yy, ok := digits2(d[0:2])
		if !ok {
			return t, false
		}
		year, d = 1900+yy, d[2:]
		if yy < 50 {
			year += 100
		}
	case s[0] == byte(cbasn1.GeneralizedTime) && s[1] == 15 && len(s) >= 17:
		d = s[2:17]
		hi, ok1 := digits2(d[0:2])
		lo, ok2 := digits2(d[2:4])
		if !ok1 || !ok2 {
			return t, false
		}
		year, d = hi*100+lo, d[4:]
	default:
		return t, false
	}
	// d is MMDDHHMMSSZ.
	if d[10] != 'Z' {
		return t, false
	}
	var f [5]int
	for i := range f {
		v, ok := digits2(d[2*i : 2*i+2])
		if !ok {
			return t, false
		}
		f[i] = v
	}
	month, day, hour, min, sec := f[0], f[1], f[2], f[3], f[4]
	if month < 1 || month > 12 || day < 1 || hour > 23 || min > 59 || sec > 59 {
		return t, false
	}
	t = time.Date(year, time.Month(month), day, hour, min, sec, 0, time.UTC)
	if t.Day() != day { // 31 April, 29 February of a common year
		return time.Time{}, false
	}
	return t, true
}

func digits2(b []byte) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}
