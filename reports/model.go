package reports

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// certRecord is one distinct certificate of a report and everywhere it was
// seen: served on endpoints (leaf or chain), logged in CT, held in an
// inventory.
type certRecord struct {
	Cert certinfo.Cert
	// Key is SHA256, or "tbs:"+TBS hash for a CT precertificate whose
	// own hash is unknown.
	Key       string
	Leaf      bool // served as a leaf, or logged in CT
	Precert   bool
	Endpoints []string // reconcile.EndpointName of each observation
	CT        []string // log#index
	Inventory []string // PKCS#11 URI or file path
}

func (c *certRecord) addUnique(list *[]string, v string) {
	if v != "" && !slices.Contains(*list, v) {
		*list = append(*list, v)
	}
}

// Seen lists every occurrence, endpoints first.
func (c *certRecord) Seen() []string {
	out := slices.Clone(c.Endpoints)
	for _, s := range c.CT {
		out = append(out, "ct: "+s)
	}
	for _, s := range c.Inventory {
		out = append(out, "inventory: "+s)
	}
	return out
}

// certificates merges the certificates of observations, sightings and
// inventory certificate objects, sorted by notAfter then fingerprint.
func certificates(r *Report) []*certRecord {
	byKey := map[string]*certRecord{}
	var out []*certRecord
	get := func(key string, c certinfo.Cert) *certRecord {
		if cr, ok := byKey[key]; ok {
			fillMissing(&cr.Cert, c)
			return cr
		}
		cr := &certRecord{Cert: c, Key: key}
		byKey[key] = cr
		out = append(out, cr)
		return cr
	}
	for i := range r.Observations {
		o := &r.Observations[i]
		ep := reconcile.EndpointName(o)
		for j, c := range o.Chain {
			if c.SHA256 == "" {
				continue
			}
			cr := get(c.SHA256, c)
			cr.Leaf = cr.Leaf || j == 0
			cr.addUnique(&cr.Endpoints, ep)
		}
	}
	for _, s := range r.Sightings {
		key := s.CertSHA256
		if key == "" {
			if s.TBSSHA256 == "" {
				continue
			}
			key = "tbs:" + s.TBSSHA256
		}
		c := certinfo.Cert{SHA256: s.CertSHA256, SPKISHA256: s.SPKISHA256, Subject: s.Subject, Issuer: s.Issuer,
			Serial: s.Serial, SANs: s.Names, NotBefore: s.NotBefore, NotAfter: s.NotAfter}
		cr := get(key, c)
		cr.Leaf = true
		cr.Precert = cr.Precert || s.Precert
		cr.addUnique(&cr.CT, fmt.Sprintf("%s#%d", s.Log, s.Index))
	}
	for _, k := range r.Keys {
		if k.Class != records.ClassCertificate || k.CertSHA256 == "" {
			continue
		}
		c := certinfo.Cert{SHA256: k.CertSHA256, SPKISHA256: k.SPKISHA256, Subject: k.Subject,
			KeyType: k.KeyType, KeyBits: k.KeyBits, Curve: k.Curve}
		if k.StartDate != nil {
			c.NotBefore = *k.StartDate
		}
		if k.EndDate != nil {
			c.NotAfter = *k.EndDate
		}
		cr := get(k.CertSHA256, c)
		cr.addUnique(&cr.Inventory, keyLocation(k))
	}
	slices.SortStableFunc(out, func(a, b *certRecord) int {
		return cmp.Or(a.Cert.NotAfter.Compare(b.Cert.NotAfter), strings.Compare(a.Key, b.Key))
	})
	return out
}

// fillMissing completes c with what o knows and c does not (a CT sighting
// has no key type; an inventory object has no issuer).
func fillMissing(c *certinfo.Cert, o certinfo.Cert) {
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	set(&c.SHA256, o.SHA256)
	set(&c.SPKISHA256, o.SPKISHA256)
	set(&c.Subject, o.Subject)
	set(&c.Issuer, o.Issuer)
	set(&c.Serial, o.Serial)
	set(&c.KeyType, o.KeyType)
	set(&c.Curve, o.Curve)
	set(&c.SignatureAlgorithm, o.SignatureAlgorithm)
	if c.KeyBits == 0 {
		c.KeyBits = o.KeyBits
	}
	if c.NotBefore.IsZero() {
		c.NotBefore = o.NotBefore
	}
	if c.NotAfter.IsZero() {
		c.NotAfter = o.NotAfter
	}
	if len(c.SANs) == 0 {
		c.SANs = o.SANs
	}
}

// keyLocation names where an inventory object lives: its PKCS#11 URI or
// cloud id, else its file.
func keyLocation(k records.Key) string {
	if k.URI != "" {
		return k.URI
	}
	if k.Path != "" {
		return k.Path
	}
	return k.Ref
}

// Where a key lives (CycloneDX securedBy.mechanism).
const (
	StorageHSM      = "HSM"
	StorageKMS      = "KMS"
	StorageSoftware = "Software"
)

// KeyStorage says where an inventory key lives: an HSM token (PKCS#11), a
// cloud KMS, or software (a file).
func KeyStorage(k records.Key) string {
	switch {
	case k.Source == "pkcs11":
		return StorageHSM
	case strings.HasSuffix(k.Source, "-kms") || strings.Contains(k.Source, "key-vault"):
		return StorageKMS
	}
	return StorageSoftware
}

// NIST SP 800-57 Part 1 Rev. 5 §7 key states (as CycloneDX names them).
const (
	StatePreActivation = "pre-activation"
	StateActive        = "active"
	StateSuspended     = "suspended"
	StateDeactivated   = "deactivated"
	StateCompromised   = "compromised"
	StateDestroyed     = "destroyed"
)

// KeyState is the NIST SP 800-57 state of an inventory key at now:
// compromised when a finding about the key carries a key-compromise
// revocation reason; pre-activation before its start date; deactivated
// after its end date; active otherwise. (A key still listed by its source
// is not destroyed, and PKCS#11 has no notion of suspension.)
func KeyState(k records.Key, now time.Time, findings []reconcile.Finding) string {
	if k.SPKISHA256 != "" {
		for _, f := range findings {
			if f.SPKISHA256 != k.SPKISHA256 || f.Suppressed {
				continue
			}
			if reason, _ := f.Evidence["reason"].(string); strings.EqualFold(strings.ReplaceAll(reason, " ", ""), "keyCompromise") {
				return StateCompromised
			}
		}
	}
	switch {
	case k.StartDate != nil && now.Before(*k.StartDate):
		return StatePreActivation
	case k.EndDate != nil && now.After(*k.EndDate):
		return StateDeactivated
	}
	return StateActive
}

// algorithmName names a key algorithm for people: "RSA-2048",
// "ECDSA P-256", "Ed25519", "AES-256".
func algorithmName(keyType string, bits int, curve string) string {
	switch {
	case keyType == "":
		return "unknown"
	case curve != "" && curve != keyType:
		return keyType + " " + curve
	case bits > 0 && keyType != "Ed25519" && keyType != "X25519":
		return fmt.Sprintf("%s-%d", keyType, bits)
	}
	return keyType
}

func keyAlgorithm(k records.Key) string { return algorithmName(k.KeyType, k.KeyBits, k.Curve) }

func certAlgorithm(c certinfo.Cert) string { return algorithmName(c.KeyType, c.KeyBits, c.Curve) }

// cnOf extracts the CN of an RFC 4514 subject, or returns the subject.
func cnOf(dn string) string {
	for _, part := range strings.Split(dn, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "CN="); ok {
			return v
		}
	}
	return dn
}

// sortedKeys returns the inventory in report order: source, token, label,
// class, ref.
func sortedKeys(keys []records.Key) []records.Key {
	out := slices.Clone(keys)
	slices.SortStableFunc(out, func(a, b records.Key) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Token, b.Token),
			strings.Compare(a.Label, b.Label), strings.Compare(string(a.Class), string(b.Class)), strings.Compare(a.Ref, b.Ref))
	})
	return out
}

// sortedObservations returns the observations by host, port, IP, protocol.
func sortedObservations(obs []records.Observation) []records.Observation {
	out := slices.Clone(obs)
	slices.SortStableFunc(out, func(a, b records.Observation) int {
		return cmp.Or(strings.Compare(a.Host, b.Host), cmp.Compare(a.Port, b.Port), strings.Compare(a.IP, b.IP),
			strings.Compare(a.Protocol, b.Protocol), strings.Compare(a.Target, b.Target))
	})
	return out
}

// endpointTLS summarises what an endpoint negotiated: "TLS 1.3 ·
// TLS_AES_128_GCM_SHA256 · X25519MLKEM768".
func endpointTLS(o records.Observation) string {
	var parts []string
	for _, p := range []string{o.TLSVersion, o.CipherSuite, o.Group} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " · ")
}

func endpointError(o records.Observation) string {
	if o.Error == nil {
		return ""
	}
	return string(o.Error.Kind) + ": " + o.Error.Message
}

// usage joins a key's usage flags.
func usage(k records.Key) string { return strings.Join(k.Usage, ",") }

// triState renders a tri-state attribute.
func triState(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "yes"
	}
	return "no"
}

func keyCreated(k records.Key) string { return fmtDatePtr(k.StartDate) }

// keySourceName renders the source: "pkcs11 hsm1", "pem", "aws-kms".
func keySourceName(k records.Key) string {
	if k.Token != "" {
		return k.Source + " " + k.Token
	}
	return k.Source
}
