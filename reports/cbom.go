package reports

import (
	"crypto/sha1"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/keyaudit/keyaudit/store/records"
)

// CBOMSpecVersion is the CycloneDX version of the cbom format.
const CBOMSpecVersion = "1.6"

// cbomBuilder collects components by bom-ref so each asset is listed once
// with every place it was seen.
type cbomBuilder struct {
	r     *Report
	algs  map[string]*cdx.Component
	pubs  map[string]*cdx.Component
	order struct{ algs, pubs []string }
	// deps is the dependency graph: what each bom-ref depends on.
	deps map[string][]string
}

// depend records that ref depends on each of on.
func (b *cbomBuilder) depend(ref string, on ...string) {
	for _, o := range on {
		if o != "" && o != ref && !slices.Contains(b.deps[ref], o) {
			b.deps[ref] = append(b.deps[ref], o)
		}
	}
}

// CBOM writes a CycloneDX 1.6 cryptography bill of materials: every
// certificate (served, logged in CT, or held in an inventory) and every
// inventory key as a cryptographic-asset component, with the algorithms
// and public keys they refer to. Certificates carry subject, issuer,
// validity, signatureAlgorithmRef and subjectPublicKeyRef; keys carry
// algorithm, size, NIST SP 800-57 state and where they are secured (HSM,
// KMS, software). SHA-256 fingerprints (of the certificate DER, of the
// SubjectPublicKeyInfo) are in hashes; where each asset was seen is in
// evidence.occurrences. Algorithms carry their OIDs. Each endpoint that
// completed a handshake is a service depending on a protocol component
// (type tls, the version and cipher suite it negotiated, with the suite's
// IANA name, two-byte identifiers and algorithms, and the key-exchange
// group). The dependencies section is the graph, as CBOMkit draws it:
// endpoint → protocol → the certificates served → public key and
// signature algorithm → hash and public-key algorithms; inventory keys →
// their algorithm and public key; hybrid groups → their parts.
func CBOM(w io.Writer, r *Report, opts Options) error {
	b := &cbomBuilder{r: r, algs: map[string]*cdx.Component{}, pubs: map[string]*cdx.Component{}, deps: map[string][]string{}}
	var certs, keys []cdx.Component
	for _, c := range certificates(r) {
		certs = append(certs, b.certificate(c))
	}
	for _, k := range sortedKeys(r.Keys) {
		switch k.Class {
		case records.ClassCertificate:
			continue // listed as a certificate, with this object as an occurrence
		case records.ClassPublicKey:
			if k.SPKISHA256 != "" {
				pub := b.publicKey(k.SPKISHA256, k.KeyType, k.KeyBits, k.Curve)
				addOccurrence(pub, keyLocation(k), "inventory public key object ("+keySourceName(k)+")")
				continue
			}
		}
		keys = append(keys, b.key(k))
	}
	protos, services := b.protocols(r.Observations)
	var comps []cdx.Component
	slices.Sort(b.order.algs)
	for _, ref := range b.order.algs {
		comps = append(comps, *b.algs[ref])
	}
	comps = append(comps, certs...)
	slices.Sort(b.order.pubs)
	for _, ref := range b.order.pubs {
		comps = append(comps, *b.pubs[ref])
	}
	comps = append(comps, keys...)
	comps = append(comps, protos...)

	t := r.tool()
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid5(fmt.Sprintf("keyaudit/cbom/run/%d/%s", r.Run.ID, rfc3339(r.GeneratedAt)))
	props := []cdx.Property{{Name: "keyaudit:run_id", Value: strconv.FormatInt(r.Run.ID, 10)}, {Name: "keyaudit:run_status", Value: r.Run.Status}}
	if r.Run.Group != "" {
		props = append(props, cdx.Property{Name: "keyaudit:run_group", Value: r.Run.Group})
	}
	for _, st := range r.Run.Stages {
		props = append(props, cdx.Property{Name: "keyaudit:stage:" + st.Name, Value: st.Status})
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp:  rfc3339(r.GeneratedAt),
		Tools:      &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: t.Name, Version: t.Version}}},
		Properties: &props,
	}
	if len(comps) > 0 {
		bom.Components = &comps
	}
	if len(services) > 0 {
		bom.Services = &services
	}
	if deps := b.dependencies(comps, services); len(deps) > 0 {
		bom.Dependencies = &deps
	}
	// Encode, not EncodeVersion: cyclonedx-go v0.12.0's conversion to 1.6
	// turns cryptographic-asset components into "application" ones. The
	// BOM is built with 1.6 fields only, so it needs no conversion.
	bom.SpecVersion = cdx.SpecVersion1_6
	bom.JSONSchema = "http://cyclonedx.org/schema/bom-1.6.schema.json"
	bom.XMLNS = ""
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	if err := enc.Encode(bom); err != nil {
		return fmt.Errorf("reports: cbom: %w", err)
	}
	return nil
}

func (b *cbomBuilder) certificate(c *certRecord) cdx.Component {
	ref := certRef(c.Key)
	name := cnOf(c.Cert.Subject)
	if name == "" {
		name = "certificate " + short(c.Key, 16)
	}
	cp := &cdx.CertificateProperties{
		SubjectName: c.Cert.Subject, IssuerName: c.Cert.Issuer,
		NotValidBefore: rfc3339(c.Cert.NotBefore), NotValidAfter: rfc3339(c.Cert.NotAfter),
		CertificateFormat: "X.509",
	}
	if c.Cert.SignatureAlgorithm != "" {
		cp.SignatureAlgorithmRef = cdx.BOMReference(b.signatureAlgorithm(c.Cert.SignatureAlgorithm))
		b.depend(ref, string(cp.SignatureAlgorithmRef))
	}
	if c.Cert.SPKISHA256 != "" {
		pub := b.publicKey(c.Cert.SPKISHA256, c.Cert.KeyType, c.Cert.KeyBits, c.Cert.Curve)
		cp.SubjectPublicKeyRef = cdx.BOMReference(pub.BOMRef)
		b.depend(ref, pub.BOMRef)
		addOccurrence(pub, ref, "subject public key of certificate "+name)
	}
	comp := cdx.Component{
		BOMRef: ref, Type: cdx.ComponentTypeCryptographicAsset, Name: name,
		CryptoProperties: &cdx.CryptoProperties{AssetType: cdx.CryptoAssetTypeCertificate, CertificateProperties: cp},
	}
	if c.Cert.SHA256 != "" {
		comp.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: c.Cert.SHA256}}
	}
	role := "chain"
	switch {
	case c.Precert:
		role = "precertificate"
	case c.Leaf:
		role = "leaf"
	}
	props := []cdx.Property{{Name: "keyaudit:role", Value: role}}
	if c.Cert.Serial != "" {
		props = append(props, cdx.Property{Name: "keyaudit:serial", Value: c.Cert.Serial})
	}
	if len(c.Cert.SANs) > 0 {
		props = append(props, cdx.Property{Name: "keyaudit:sans", Value: strings.Join(c.Cert.SANs, ",")})
	}
	if c.Cert.SelfSigned {
		props = append(props, cdx.Property{Name: "keyaudit:self_signed", Value: "true"})
	}
	comp.Properties = &props
	for _, ep := range c.Endpoints {
		addOccurrence(&comp, ep, "served on a TLS endpoint")
	}
	for _, ct := range c.CT {
		addOccurrence(&comp, ct, "logged in Certificate Transparency")
	}
	for _, inv := range c.Inventory {
		addOccurrence(&comp, inv, "inventory certificate object")
	}
	return comp
}

// key is an inventory private, secret or (unpaired) public key.
func (b *cbomBuilder) key(k records.Key) cdx.Component {
	ref := "crypto/key/" + k.Ref
	if k.Ref == "" {
		ref = "crypto/key/" + keyLocation(k)
	}
	typ := cdx.RelatedCryptoMaterialTypeKey
	switch k.Class {
	case records.ClassPrivateKey:
		typ = cdx.RelatedCryptoMaterialTypePrivateKey
	case records.ClassSecretKey:
		typ = cdx.RelatedCryptoMaterialTypeSecretKey
	case records.ClassPublicKey:
		typ = cdx.RelatedCryptoMaterialTypePublicKey
	}
	rp := &cdx.RelatedCryptoMaterialProperties{
		Type: typ, ID: k.ID, State: cdx.CryptoKeyState(KeyState(k, b.r.GeneratedAt, b.r.Findings)),
		AlgorithmRef:   cdx.BOMReference(b.keyAlgorithm(k.KeyType, k.KeyBits, k.Curve)),
		ActivationDate: rfc3339(ptrTime(k.StartDate)), ExpirationDate: rfc3339(ptrTime(k.EndDate)),
		SecuredBy: &cdx.SecuredBy{Mechanism: KeyStorage(k)},
	}
	if k.KeyBits > 0 {
		bits := k.KeyBits
		rp.Size = &bits
	}
	b.depend(ref, string(rp.AlgorithmRef))
	name := k.Name()
	comp := cdx.Component{
		BOMRef: ref, Type: cdx.ComponentTypeCryptographicAsset, Name: name,
		CryptoProperties: &cdx.CryptoProperties{AssetType: cdx.CryptoAssetTypeRelatedCryptoMaterial, RelatedCryptoMaterialProperties: rp},
	}
	if k.SPKISHA256 != "" {
		// The key pair's identity: the SHA-256 of its SubjectPublicKeyInfo.
		comp.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: k.SPKISHA256}}
		pub := b.publicKey(k.SPKISHA256, k.KeyType, k.KeyBits, k.Curve)
		addOccurrence(pub, ref, "public half of inventory key "+name)
		b.depend(ref, pub.BOMRef)
	}
	var props []cdx.Property
	for _, kv := range [][2]string{{"source", k.Source}, {"token", k.Token}, {"label", k.Label}, {"owner", k.Owner}, {"purpose", k.Purpose},
		{"cryptoperiod", k.Cryptoperiod}, {"spki_sha256", k.SPKISHA256}, {"sensitive", triState(k.Sensitive)}, {"extractable", triState(k.Extractable)},
		{"usage", usage(k)}, {"kcv", k.KCV}} {
		if kv[1] != "" {
			props = append(props, cdx.Property{Name: "keyaudit:" + kv[0], Value: kv[1]})
		}
	}
	if len(props) > 0 {
		comp.Properties = &props
	}
	addOccurrence(&comp, keyLocation(k), "inventory ("+keySourceName(k)+")")
	return comp
}

// publicKey returns the component of a public key, made on first use.
func (b *cbomBuilder) publicKey(spki, keyType string, bits int, curve string) *cdx.Component {
	ref := "crypto/public-key/" + spki
	if c, ok := b.pubs[ref]; ok {
		return c
	}
	rp := &cdx.RelatedCryptoMaterialProperties{Type: cdx.RelatedCryptoMaterialTypePublicKey, ID: spki}
	if keyType != "" {
		rp.AlgorithmRef = cdx.BOMReference(b.keyAlgorithm(keyType, bits, curve))
		b.depend(ref, string(rp.AlgorithmRef))
	}
	if bits > 0 {
		rp.Size = &bits
	}
	c := &cdx.Component{
		BOMRef: ref, Type: cdx.ComponentTypeCryptographicAsset, Name: strings.TrimSpace(algorithmName(keyType, bits, curve) + " public key " + short(spki, 16)),
		Hashes:           &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: spki}},
		CryptoProperties: &cdx.CryptoProperties{AssetType: cdx.CryptoAssetTypeRelatedCryptoMaterial, RelatedCryptoMaterialProperties: rp},
	}
	b.pubs[ref] = c
	b.order.pubs = append(b.order.pubs, ref)
	return c
}

func (b *cbomBuilder) addAlgorithm(ref string, c *cdx.Component) string {
	if _, ok := b.algs[ref]; !ok {
		b.algs[ref] = c
		b.order.algs = append(b.order.algs, ref)
	}
	return ref
}

// keyAlgorithm returns the bom-ref of a key algorithm component, with its
// primitive and its classical security strength (NIST SP 800-57 Part 1
// Rev. 5 Table 2).
func (b *cbomBuilder) keyAlgorithm(keyType string, bits int, curve string) string {
	name := algorithmName(keyType, bits, curve)
	ref := "crypto/algorithm/" + refPart(name)
	ap := &cdx.CryptoAlgorithmProperties{Primitive: keyPrimitive(keyType), ExecutionEnvironment: cdx.CryptoExecutionEnvironmentUnknown}
	switch {
	case strings.HasPrefix(curve, "P-"):
		ap.Curve = "nist/" + curve
	case curve != "" && curve != keyType:
		ap.Curve = curve
	case bits > 0 && keyType != "Ed25519" && keyType != "X25519":
		ap.ParameterSetIdentifier = strconv.Itoa(bits)
	}
	if lvl, ok := securityStrength(keyType, bits, curve); ok {
		ap.ClassicalSecurityLevel = &lvl
		q := quantumLevel(keyType, bits)
		ap.NistQuantumSecurityLevel = &q
	}
	return b.addAlgorithm(ref, &cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeCryptographicAsset, Name: name,
		CryptoProperties: &cdx.CryptoProperties{AssetType: cdx.CryptoAssetTypeAlgorithm, AlgorithmProperties: ap, OID: keyOID(keyType)}})
}

// signatureAlgorithm returns the bom-ref of a certificate signature
// algorithm ("SHA256-RSA", "ECDSA-SHA384", "Ed25519") with its OID; it
// depends on its hash and its public-key algorithm.
func (b *cbomBuilder) signatureAlgorithm(name string) string {
	ref := "crypto/algorithm/" + refPart(name)
	if _, ok := b.algs[ref]; ok {
		return ref
	}
	oid, parts := signatureParts(name)
	ap := &cdx.CryptoAlgorithmProperties{Primitive: cdx.CryptoPrimitiveSignature, ExecutionEnvironment: cdx.CryptoExecutionEnvironmentUnknown,
		CryptoFunctions: &[]cdx.CryptoFunction{cdx.CryptoFunctionSign, cdx.CryptoFunctionVerify}}
	if strings.HasSuffix(name, "-RSA") {
		ap.Padding = cdx.CryptoPaddingPKCS1v15
	}
	b.addAlgorithm(ref, &cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeCryptographicAsset, Name: name,
		CryptoProperties: &cdx.CryptoProperties{AssetType: cdx.CryptoAssetTypeAlgorithm, AlgorithmProperties: ap, OID: oid}})
	for _, p := range parts {
		b.depend(ref, b.algorithm(p))
	}
	return ref
}

// dependencies is the dependency graph in component order, then the
// services; every component and service is listed, those that depend on
// nothing with an empty entry (as CycloneDX asks).
func (b *cbomBuilder) dependencies(comps []cdx.Component, svcs []cdx.Service) []cdx.Dependency {
	var refs []string
	for _, c := range comps {
		refs = append(refs, c.BOMRef)
	}
	for _, s := range svcs {
		refs = append(refs, s.BOMRef)
	}
	out := make([]cdx.Dependency, 0, len(refs))
	for _, ref := range refs {
		d := cdx.Dependency{Ref: ref}
		if on := b.deps[ref]; len(on) > 0 {
			on = slices.Clone(on)
			slices.Sort(on)
			d.Dependencies = &on
		}
		out = append(out, d)
	}
	return out
}

func keyPrimitive(keyType string) cdx.CryptoPrimitive {
	switch strings.ToUpper(keyType) {
	case "RSA":
		return cdx.CryptoPrimitivePKE
	case "ECDSA", "EC", "ED25519", "ED448", "DSA":
		return cdx.CryptoPrimitiveSignature
	case "X25519", "X448", "ECDH", "DH":
		return cdx.CryptoPrimitiveKeyAgree
	case "AES", "DES3", "DES", "CAMELLIA", "ARIA":
		return cdx.CryptoPrimitiveBlockCipher
	case "HMAC", "GENERIC_SECRET", "GENERIC":
		return cdx.CryptoPrimitiveMAC
	case "":
		return cdx.CryptoPrimitiveUnknown
	}
	return cdx.CryptoPrimitiveOther
}

// securityStrength is the classical security strength in bits of a key,
// from NIST SP 800-57 Part 1 Rev. 5 Table 2 (rounded down to the table's
// rows for sizes between them).
func securityStrength(keyType string, bits int, curve string) (int, bool) {
	switch strings.ToUpper(keyType) {
	case "RSA", "DSA", "DH":
		for _, row := range [][2]int{{15360, 256}, {7680, 192}, {3072, 128}, {2048, 112}, {1024, 80}} {
			if bits >= row[0] {
				return row[1], true
			}
		}
		return 0, bits > 0
	case "ECDSA", "EC", "ECDH":
		if bits > 0 {
			return bits / 2, true
		}
	case "ED25519", "X25519":
		return 128, true
	case "ED448", "X448":
		return 224, true
	case "AES":
		if bits > 0 {
			return bits, true
		}
	case "DES3":
		return 112, true
	}
	return 0, false
}

// quantumLevel is the NIST PQC security category: 0 for keys Shor's
// algorithm breaks; AES-128/192/256 are categories 1, 3 and 5.
func quantumLevel(keyType string, bits int) int {
	if strings.EqualFold(keyType, "AES") {
		switch {
		case bits >= 256:
			return 5
		case bits >= 192:
			return 3
		case bits >= 128:
			return 1
		}
	}
	return 0
}

func refPart(s string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, s))
}

func addOccurrence(c *cdx.Component, location, context string) {
	if location == "" {
		return
	}
	if c.Evidence == nil {
		c.Evidence = &cdx.Evidence{Occurrences: &[]cdx.EvidenceOccurrence{}}
	}
	occ := c.Evidence.Occurrences
	for _, o := range *occ {
		if o.Location == location {
			return
		}
	}
	*occ = append(*occ, cdx.EvidenceOccurrence{Location: location, AdditionalContext: context})
}

// uuid5 is an RFC 9562 name-based (SHA-1) UUID in the URL namespace: the
// same run and time always give the same serial number.
func uuid5(name string) string {
	ns := []byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	h := sha1.Sum(append(ns, name...))
	u := h[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func ptrTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
