package reports

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	cdx "github.com/CycloneDX/cyclonedx-go"
	ztls "github.com/zmap/zcrypto/tls"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// algSpec describes an algorithm component that is not a key algorithm
// of a certificate or inventory key: a hash, a MAC, a bulk cipher, a key
// exchange or a TLS key-exchange group.
type algSpec struct {
	name      string
	primitive cdx.CryptoPrimitive
	oid       string
	mode      cdx.CryptoAlgorithmMode
	param     string // parameterSetIdentifier
	curve     string
	classical int // 0: not stated
	quantum   int // -1: not stated
	functions []cdx.CryptoFunction
	parts     []algSpec // a hybrid's (or a composite's) constituents
}

// Object identifiers of the algorithms keyaudit names (RFC 8017, RFC 5758,
// RFC 5480, RFC 8410, RFC 3279, NIST CSOR, FIPS 203).
var (
	hashSpecs = map[string]algSpec{
		"MD2":     {name: "MD2", primitive: cdx.CryptoPrimitiveHash, oid: "1.2.840.113549.2.2", quantum: -1},
		"MD5":     {name: "MD5", primitive: cdx.CryptoPrimitiveHash, oid: "1.2.840.113549.2.5", quantum: -1},
		"SHA1":    {name: "SHA-1", primitive: cdx.CryptoPrimitiveHash, oid: "1.3.14.3.2.26", param: "160", quantum: -1},
		"SHA256":  {name: "SHA-256", primitive: cdx.CryptoPrimitiveHash, oid: "2.16.840.1.101.3.4.2.1", param: "256", quantum: -1},
		"SHA384":  {name: "SHA-384", primitive: cdx.CryptoPrimitiveHash, oid: "2.16.840.1.101.3.4.2.2", param: "384", quantum: -1},
		"SHA512":  {name: "SHA-512", primitive: cdx.CryptoPrimitiveHash, oid: "2.16.840.1.101.3.4.2.3", param: "512", quantum: -1},
		"SM3":     {name: "SM3", primitive: cdx.CryptoPrimitiveHash, oid: "1.2.156.10197.1.401", param: "256", quantum: -1},
		"GOST256": {name: "GOST R 34.11-2012-256", primitive: cdx.CryptoPrimitiveHash, oid: "1.2.643.7.1.1.2.2", param: "256", quantum: -1},
	}
	hmacSpecs = map[string]algSpec{
		"MD5":    {name: "HMAC-MD5", primitive: cdx.CryptoPrimitiveMAC, oid: "1.3.6.1.5.5.8.1.1", quantum: -1},
		"SHA":    {name: "HMAC-SHA1", primitive: cdx.CryptoPrimitiveMAC, oid: "1.2.840.113549.2.7", param: "160", quantum: -1},
		"SHA256": {name: "HMAC-SHA256", primitive: cdx.CryptoPrimitiveMAC, oid: "1.2.840.113549.2.9", param: "256", quantum: -1},
		"SHA384": {name: "HMAC-SHA384", primitive: cdx.CryptoPrimitiveMAC, oid: "1.2.840.113549.2.10", param: "384", quantum: -1},
		"SHA512": {name: "HMAC-SHA512", primitive: cdx.CryptoPrimitiveMAC, oid: "1.2.840.113549.2.11", param: "512", quantum: -1},
	}
	// Generic public-key algorithms (no size), as the parts of a
	// signature algorithm and the key exchange or authentication of a
	// cipher suite.
	pkSpecs = map[string]algSpec{
		"RSA":     {name: "RSA", primitive: cdx.CryptoPrimitivePKE, oid: "1.2.840.113549.1.1.1", quantum: 0},
		"RSAPSS":  {name: "RSASSA-PSS", primitive: cdx.CryptoPrimitiveSignature, oid: "1.2.840.113549.1.1.10", quantum: 0},
		"ECDSA":   {name: "ECDSA", primitive: cdx.CryptoPrimitiveSignature, oid: "1.2.840.10045.2.1", quantum: 0},
		"DSA":     {name: "DSA", primitive: cdx.CryptoPrimitiveSignature, oid: "1.2.840.10040.4.1", quantum: 0},
		"DSS":     {name: "DSA", primitive: cdx.CryptoPrimitiveSignature, oid: "1.2.840.10040.4.1", quantum: 0},
		"ECDHE":   {name: "ECDHE", primitive: cdx.CryptoPrimitiveKeyAgree, oid: "1.3.132.1.12", quantum: 0, functions: []cdx.CryptoFunction{cdx.CryptoFunctionKeygen}},
		"ECDH":    {name: "ECDH", primitive: cdx.CryptoPrimitiveKeyAgree, oid: "1.3.132.1.12", quantum: 0},
		"DHE":     {name: "DHE", primitive: cdx.CryptoPrimitiveKeyAgree, oid: "1.2.840.10046.2.1", quantum: 0, functions: []cdx.CryptoFunction{cdx.CryptoFunctionKeygen}},
		"DH":      {name: "DH", primitive: cdx.CryptoPrimitiveKeyAgree, oid: "1.2.840.10046.2.1", quantum: 0},
		"PSK":     {name: "PSK", primitive: cdx.CryptoPrimitiveOther, quantum: -1},
		"SRP":     {name: "SRP", primitive: cdx.CryptoPrimitiveKeyAgree, quantum: 0},
		"ED25519": {name: "Ed25519", primitive: cdx.CryptoPrimitiveSignature, oid: "1.3.101.112", classical: 128, quantum: 0},
	}
	// TLS key-exchange groups by their lower-cased name (IANA TLS
	// Supported Groups; the scanner writes them as crypto/tls does).
	groupSpecs = func() map[string]algSpec {
		x25519 := algSpec{name: "X25519", primitive: cdx.CryptoPrimitiveKeyAgree, oid: "1.3.101.110", curve: "Curve25519", classical: 128, quantum: 0}
		p256 := algSpec{name: "secp256r1", primitive: cdx.CryptoPrimitiveKeyAgree, oid: "1.2.840.10045.3.1.7", curve: "nist/P-256", classical: 128, quantum: 0}
		p384 := algSpec{name: "secp384r1", primitive: cdx.CryptoPrimitiveKeyAgree, oid: "1.3.132.0.34", curve: "nist/P-384", classical: 192, quantum: 0}
		p521 := algSpec{name: "secp521r1", primitive: cdx.CryptoPrimitiveKeyAgree, oid: "1.3.132.0.35", curve: "nist/P-521", classical: 256, quantum: 0}
		kem := func(n, cat int, oid string) algSpec {
			return algSpec{name: "ML-KEM-" + strconv.Itoa(n), primitive: cdx.CryptoPrimitiveKEM, oid: oid, param: strconv.Itoa(n), quantum: cat,
				functions: []cdx.CryptoFunction{cdx.CryptoFunctionKeygen, cdx.CryptoFunctionEncapsulate, cdx.CryptoFunctionDecapsulate}}
		}
		kem512, kem768, kem1024 := kem(512, 1, "2.16.840.1.101.3.4.4.1"), kem(768, 3, "2.16.840.1.101.3.4.4.2"), kem(1024, 5, "2.16.840.1.101.3.4.4.3")
		hybrid := func(name string, cat int, parts ...algSpec) algSpec {
			// No OID: a TLS hybrid group is a codepoint, not an ASN.1 algorithm.
			return algSpec{name: name, primitive: cdx.CryptoPrimitiveCombiner, quantum: cat, parts: parts}
		}
		m := map[string]algSpec{
			"x25519": x25519, "secp256r1": p256, "secp384r1": p384, "secp521r1": p521,
			"p-256": p256, "p-384": p384, "p-521": p521, "curvep256": p256, "curvep384": p384, "curvep521": p521,
			"x448":     {name: "X448", primitive: cdx.CryptoPrimitiveKeyAgree, oid: "1.3.101.111", curve: "Curve448", classical: 224, quantum: 0},
			"mlkem512": kem512, "mlkem768": kem768, "mlkem1024": kem1024,
			"x25519mlkem768":     hybrid("X25519MLKEM768", 3, x25519, kem768),
			"secp256r1mlkem768":  hybrid("SecP256r1MLKEM768", 3, p256, kem768),
			"secp384r1mlkem1024": hybrid("SecP384r1MLKEM1024", 5, p384, kem1024),
		}
		return m
	}()
)

// bulkCipher is the algorithm of a cipher suite's record protection
// ("AES_128_GCM", "CHACHA20_POLY1305", "3DES_EDE_CBC").
func bulkCipher(s string) (algSpec, bool) {
	aes := map[string]string{"128_CBC": "2.16.840.1.101.3.4.1.2", "128_GCM": "2.16.840.1.101.3.4.1.6", "128_CCM": "2.16.840.1.101.3.4.1.7",
		"256_CBC": "2.16.840.1.101.3.4.1.42", "256_GCM": "2.16.840.1.101.3.4.1.46", "256_CCM": "2.16.840.1.101.3.4.1.47"}
	modes := map[string]cdx.CryptoAlgorithmMode{"CBC": cdx.CryptoAlgorithmModeCBC, "GCM": cdx.CryptoAlgorithmModeGCM, "CCM": cdx.CryptoAlgorithmModeCCM}
	enc := []cdx.CryptoFunction{cdx.CryptoFunctionEncrypt, cdx.CryptoFunctionDecrypt}
	switch s {
	case "CHACHA20_POLY1305":
		return algSpec{name: "ChaCha20-Poly1305", primitive: cdx.CryptoPrimitiveAE, oid: "1.2.840.113549.1.9.16.3.18", param: "256",
			classical: 256, quantum: 5, functions: enc}, true
	case "3DES_EDE_CBC":
		return algSpec{name: "3DES-EDE-CBC", primitive: cdx.CryptoPrimitiveBlockCipher, oid: "1.2.840.113549.3.7", mode: cdx.CryptoAlgorithmModeCBC,
			param: "168", classical: 112, quantum: 0, functions: enc}, true
	case "DES_CBC", "DES40_CBC":
		return algSpec{name: strings.ReplaceAll(s, "_", "-"), primitive: cdx.CryptoPrimitiveBlockCipher, oid: "1.3.14.3.2.7", mode: cdx.CryptoAlgorithmModeCBC,
			param: "56", quantum: 0, functions: enc}, true
	case "RC4_128", "RC4_40":
		return algSpec{name: strings.ReplaceAll(s, "_", "-"), primitive: cdx.CryptoPrimitiveStreamCipher, oid: "1.2.840.113549.3.4",
			param: strings.TrimPrefix(s, "RC4_"), quantum: 0, functions: enc}, true
	case "NULL":
		return algSpec{}, false
	}
	parts := strings.Split(s, "_")
	if len(parts) < 3 || parts[len(parts)-1] == "8" && len(parts) < 4 {
		return algSpec{name: strings.ReplaceAll(s, "_", "-"), primitive: cdx.CryptoPrimitiveUnknown, quantum: -1, functions: enc}, s != ""
	}
	family, bits, mode := parts[0], parts[1], parts[2]
	spec := algSpec{name: strings.ReplaceAll(s, "_", "-"), primitive: cdx.CryptoPrimitiveBlockCipher, mode: modes[mode], param: bits, quantum: -1, functions: enc}
	if mode == "GCM" || mode == "CCM" {
		spec.primitive = cdx.CryptoPrimitiveAE
	}
	if spec.mode == "" {
		spec.mode = cdx.CryptoAlgorithmModeOther
	}
	if family == "AES" {
		if len(parts) == 3 {
			spec.oid = aes[bits+"_"+mode]
		}
		if n, err := strconv.Atoi(bits); err == nil {
			spec.classical = n
			spec.quantum = quantumLevel("AES", n)
		}
	}
	return spec, true
}

// suiteAlgorithms splits an IANA cipher suite name into the algorithms
// it names: key exchange, authentication, record protection and the MAC
// (TLS 1.2 and earlier) or the handshake hash (AEAD suites, TLS 1.3).
func suiteAlgorithms(name string) []algSpec {
	rest, ok := strings.CutPrefix(name, "TLS_")
	if !ok {
		rest, ok = strings.CutPrefix(name, "SSL_")
	}
	if !ok {
		return nil
	}
	var out []algSpec
	kx, cipher, found := strings.Cut(rest, "_WITH_")
	if !found { // TLS 1.3: TLS_<cipher>_<hash>
		cipher, kx = rest, ""
	}
	if kx != "" {
		toks := strings.Split(strings.TrimSuffix(strings.TrimSuffix(kx, "_EXPORT"), "_EXPORT1024"), "_")
		for i, t := range toks {
			if t == "anon" || t == "NULL" || i > 0 && t == toks[0] {
				continue
			}
			if s, ok := pkSpecs[t]; ok {
				out = append(out, s)
			}
		}
	}
	toks := strings.Split(cipher, "_")
	last := toks[len(toks)-1]
	var hash *algSpec
	if len(toks) > 1 {
		if _, ok := hmacSpecs[last]; ok || last == "SHA" {
			toks = toks[:len(toks)-1]
			aead := slices.Contains(toks, "GCM") || slices.Contains(toks, "CCM") || slices.Contains(toks, "POLY1305")
			switch {
			case aead && last == "SHA":
				// none: an AEAD suite's SHA is SHA-1 PRF only in old drafts
			case aead:
				h := hashSpecs[last]
				hash = &h
			default:
				h := hmacSpecs[last]
				hash = &h
			}
		}
	}
	if c, ok := bulkCipher(strings.Join(toks, "_")); ok {
		out = append(out, c)
	}
	if hash != nil && hash.name != "" {
		out = append(out, *hash)
	}
	return out
}

// suiteIDs maps IANA cipher suite names to their two-byte codepoints:
// crypto/tls's suites first, then every suite zcrypto names.
var suiteIDs = sync.OnceValue(func() map[string]uint16 {
	m := map[string]uint16{}
	for i := 0; i <= 0xffff; i++ {
		if n := ztls.CipherSuiteID(uint16(i)).String(); n != "unknown" && n != "" {
			if _, dup := m[n]; !dup {
				m[n] = uint16(i)
			}
		}
	}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		m[s.Name] = s.ID
	}
	return m
})

// suiteID is the codepoint of a cipher suite as the scanner records it
// (its IANA name, or "0x1301" when the name is unknown).
func suiteID(name string) (uint16, bool) {
	if id, ok := suiteIDs()[name]; ok {
		return id, true
	}
	if h, ok := strings.CutPrefix(strings.ToLower(name), "0x"); ok {
		if v, err := strconv.ParseUint(h, 16, 16); err == nil {
			return uint16(v), true
		}
	}
	return 0, false
}

// tlsVersion splits a recorded version ("TLS 1.3", "SSL 3.0") into the
// protocol type, its version number and a component name.
func tlsVersion(v string) (cdx.CryptoProtocolType, string, string) {
	if n, ok := strings.CutPrefix(v, "TLS "); ok {
		return cdx.CryptoProtocolTypeTLS, n, "TLSv" + n
	}
	if n, ok := strings.CutPrefix(v, "SSL "); ok {
		return cdx.CryptoProtocolTypeOther, n, "SSLv" + strings.TrimSuffix(n, ".0")
	}
	return cdx.CryptoProtocolTypeTLS, v, "TLS " + v
}

// algorithm returns the bom-ref of the component of s, made on first
// use, with its constituents as dependencies.
func (b *cbomBuilder) algorithm(s algSpec) string {
	ref := "crypto/algorithm/" + refPart(s.name)
	if _, ok := b.algs[ref]; ok {
		return ref
	}
	ap := &cdx.CryptoAlgorithmProperties{Primitive: s.primitive, Mode: s.mode, ParameterSetIdentifier: s.param, Curve: s.curve,
		ExecutionEnvironment: cdx.CryptoExecutionEnvironmentUnknown}
	if ap.Primitive == "" {
		ap.Primitive = cdx.CryptoPrimitiveUnknown
	}
	if len(s.functions) > 0 {
		fs := slices.Clone(s.functions)
		ap.CryptoFunctions = &fs
	}
	if s.classical > 0 {
		lvl := s.classical
		ap.ClassicalSecurityLevel = &lvl
	}
	if s.quantum >= 0 {
		q := s.quantum
		ap.NistQuantumSecurityLevel = &q
	}
	b.addAlgorithm(ref, &cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeCryptographicAsset, Name: s.name,
		CryptoProperties: &cdx.CryptoProperties{AssetType: cdx.CryptoAssetTypeAlgorithm, AlgorithmProperties: ap, OID: s.oid}})
	for _, p := range s.parts {
		b.depend(ref, b.algorithm(p))
	}
	return ref
}

// group returns the bom-ref of a TLS key-exchange group's component.
func (b *cbomBuilder) group(name string) string {
	if s, ok := groupSpecs[strings.ToLower(name)]; ok {
		return b.algorithm(s)
	}
	return b.algorithm(algSpec{name: name, primitive: cdx.CryptoPrimitiveKeyAgree, quantum: -1})
}

// protocols makes, for each endpoint that completed a handshake, a
// service (the endpoint) depending on a protocol component (the TLS
// version and cipher suite it negotiated, with the key-exchange group),
// which depends on the certificates the endpoint served.
func (b *cbomBuilder) protocols(obs []records.Observation) ([]cdx.Component, []cdx.Service) {
	var comps []cdx.Component
	var svcs []cdx.Service
	seen := map[string]bool{}
	for i := range obs {
		o := &obs[i]
		if o.TLSVersion == "" || o.Error != nil {
			continue
		}
		ep := reconcile.EndpointName(o)
		if seen[ep] {
			continue
		}
		seen[ep] = true
		typ, version, name := tlsVersion(o.TLSVersion)
		ref := "crypto/protocol/" + refPart(name) + "/" + ep
		pp := &cdx.CryptoProtocolProperties{Type: typ, Version: version}
		var related []string
		if o.CipherSuite != "" {
			cs := cdx.CipherSuite{Name: o.CipherSuite}
			if id, ok := suiteID(o.CipherSuite); ok {
				cs.Identifiers = &[]string{fmt.Sprintf("0x%02X", id>>8), fmt.Sprintf("0x%02X", id&0xff)}
			}
			var algs []cdx.BOMReference
			for _, s := range suiteAlgorithms(o.CipherSuite) {
				a := b.algorithm(s)
				algs = append(algs, cdx.BOMReference(a))
				related = append(related, a)
			}
			if o.Group != "" {
				g := b.group(o.Group)
				algs = append(algs, cdx.BOMReference(g))
				related = append(related, g)
			}
			if len(algs) > 0 {
				cs.Algorithms = &algs
			}
			pp.CipherSuites = &[]cdx.CipherSuite{cs}
		} else if o.Group != "" {
			related = append(related, b.group(o.Group))
		}
		for _, c := range o.Chain {
			if c.SHA256 != "" {
				related = append(related, certRef(c.SHA256))
			}
		}
		related = uniq(related)
		if len(related) > 0 {
			rs := make([]cdx.BOMReference, len(related))
			for j, r := range related {
				rs[j] = cdx.BOMReference(r)
			}
			pp.CryptoRefArray = &rs
		}
		comp := cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeCryptographicAsset, Name: name,
			CryptoProperties: &cdx.CryptoProperties{AssetType: cdx.CryptoAssetTypeProtocol, ProtocolProperties: pp}}
		props := []cdx.Property{{Name: "keyaudit:endpoint", Value: ep}}
		if o.Group != "" {
			props = append(props, cdx.Property{Name: "keyaudit:tls_group", Value: o.Group})
		}
		comp.Properties = &props
		addOccurrence(&comp, ep, "negotiated by keyaudit's scanner")
		comps = append(comps, comp)
		b.depend(ref, related...)

		svcRef := "endpoint/" + ep
		svc := cdx.Service{BOMRef: svcRef, Name: o.Target, Endpoints: &[]string{o.Protocol + "://" + o.Target}}
		var sp []cdx.Property
		for _, kv := range [][2]string{{"protocol", o.Protocol}, {"host", o.Host}, {"ip", o.IP}, {"sni", o.SNI}} {
			if kv[1] != "" {
				sp = append(sp, cdx.Property{Name: "keyaudit:" + kv[0], Value: kv[1]})
			}
		}
		if len(sp) > 0 {
			svc.Properties = &sp
		}
		svcs = append(svcs, svc)
		b.depend(svcRef, ref)
	}
	return comps, svcs
}

// signatureParts names the hash and the public-key algorithm of a
// certificate signature algorithm as Go's crypto/x509 names it
// ("SHA256-RSA", "ECDSA-SHA384", "SHA256-RSAPSS", "Ed25519"), with its
// OID.
func signatureParts(name string) (oid string, parts []algSpec) {
	oids := map[string]string{
		"MD2-RSA": "1.2.840.113549.1.1.2", "MD5-RSA": "1.2.840.113549.1.1.4", "SHA1-RSA": "1.2.840.113549.1.1.5",
		"SHA256-RSA": "1.2.840.113549.1.1.11", "SHA384-RSA": "1.2.840.113549.1.1.12", "SHA512-RSA": "1.2.840.113549.1.1.13",
		"SHA256-RSAPSS": "1.2.840.113549.1.1.10", "SHA384-RSAPSS": "1.2.840.113549.1.1.10", "SHA512-RSAPSS": "1.2.840.113549.1.1.10",
		"DSA-SHA1": "1.2.840.10040.4.3", "DSA-SHA256": "2.16.840.1.101.3.4.3.2",
		"ECDSA-SHA1": "1.2.840.10045.4.1", "ECDSA-SHA256": "1.2.840.10045.4.3.2", "ECDSA-SHA384": "1.2.840.10045.4.3.3", "ECDSA-SHA512": "1.2.840.10045.4.3.4",
		"Ed25519": "1.3.101.112", "Ed448": "1.3.101.113",
	}
	oid = oids[name]
	a, c, ok := strings.Cut(name, "-")
	if !ok {
		return oid, nil
	}
	if _, isHash := hashSpecs[a]; isHash {
		a, c = c, a // "SHA256-RSA": the hash first
	}
	if h, ok := hashSpecs[c]; ok {
		parts = append(parts, h)
	}
	if p, ok := pkSpecs[a]; ok {
		parts = append(parts, p)
	}
	return oid, parts
}

// keyOID is the OID of a key's algorithm (its SubjectPublicKeyInfo
// algorithm identifier).
func keyOID(keyType string) string {
	switch strings.ToUpper(keyType) {
	case "RSA":
		return "1.2.840.113549.1.1.1"
	case "ECDSA", "EC":
		return "1.2.840.10045.2.1"
	case "ED25519":
		return "1.3.101.112"
	case "ED448":
		return "1.3.101.113"
	case "X25519":
		return "1.3.101.110"
	case "X448":
		return "1.3.101.111"
	case "DSA":
		return "1.2.840.10040.4.1"
	case "DH":
		return "1.2.840.10046.2.1"
	}
	return ""
}

func certRef(key string) string { return "crypto/certificate/" + key }

func uniq(s []string) []string {
	var out []string
	for _, v := range s {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
