package reconcile

import (
	"crypto/x509/pkix"
	"fmt"
	"sort"
	"strings"
)

// CA is a certification authority as CAA knows it: the organisation names
// its issuing certificates carry and the CAA identifiers (issuer domain
// names) it recognises as its own.
type CA struct {
	Name string `json:"name" yaml:"name"`
	// Organizations are issuer DN organisation (O) values, compared
	// case-insensitively.
	Organizations []string `json:"organizations" yaml:"organizations"`
	// Identifiers are the issuer-domain-names whose issue/issuewild grant
	// lets the CA issue.
	Identifiers []string `json:"identifiers" yaml:"identifiers"`
	// Source says where the entry comes from: "builtin" or "config".
	Source string `json:"source" yaml:"-"`
}

// builtinCAs maps major publicly-trusted CAs to their CAA identifiers.
//
// The identifiers are those each CA publishes in the "CAA Identifiers"
// field of its CCADB record (CCADB AllCAAIdentifiersReport,
// https://ccadb.my.salesforce-sites.com/ccadb/AllCAAIdentifiersReport),
// which the root programs hold it to; the organisations are the O values
// of the CAs' current issuing certificates. A brand that issues from
// another CA's hierarchy maps to that CA's identifiers (GeoTrust, Thawte
// and RapidSSL are DigiCert; ZeroSSL issues from Sectigo's hierarchy).
// When updating, re-read the CCADB report; anything missing or local
// (a private CA, a new brand) belongs in the config's caa.cas list, which
// is consulted first.
var builtinCAs = []CA{
	{Name: "Let's Encrypt", Organizations: []string{"Let's Encrypt", "Internet Security Research Group"},
		Identifiers: []string{"letsencrypt.org"}},
	{Name: "Google Trust Services", Organizations: []string{"Google Trust Services", "Google Trust Services LLC"},
		Identifiers: []string{"pki.goog", "google.com"}},
	{Name: "DigiCert", Organizations: []string{"DigiCert Inc", "DigiCert, Inc.", "DigiCert Inc.",
		"Symantec Corporation", "GeoTrust Inc.", "GeoTrust, Inc.", "thawte, Inc.", "VeriSign, Inc.", "RapidSSL"},
		Identifiers: []string{"digicert.com", "www.digicert.com", "digicert.ne.jp", "cybertrust.ne.jp",
			"symantec.com", "thawte.com", "geotrust.com", "rapidssl.com", "digitalcertvalidation.com"}},
	{Name: "QuoVadis (DigiCert)", Organizations: []string{"QuoVadis Limited", "QuoVadis Trustlink B.V."},
		Identifiers: []string{"quovadisglobal.com", "digicert.com"}},
	{Name: "Sectigo", Organizations: []string{"Sectigo Limited", "COMODO CA Limited", "The USERTRUST Network"},
		Identifiers: []string{"sectigo.com", "comodoca.com", "comodo.com", "usertrust.com", "trust-provider.com"}},
	{Name: "ZeroSSL (Sectigo)", Organizations: []string{"ZeroSSL"},
		Identifiers: []string{"sectigo.com"}},
	{Name: "GlobalSign", Organizations: []string{"GlobalSign nv-sa", "GlobalSign"},
		Identifiers: []string{"globalsign.com"}},
	{Name: "Amazon Trust Services", Organizations: []string{"Amazon"},
		Identifiers: []string{"amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com"}},
	{Name: "GoDaddy", Organizations: []string{"GoDaddy.com, Inc.", "Starfield Technologies, Inc."},
		Identifiers: []string{"godaddy.com", "starfieldtech.com"}},
	{Name: "Entrust", Organizations: []string{"Entrust, Inc.", "Entrust Limited", "AffirmTrust"},
		Identifiers: []string{"entrust.net", "affirmtrust.com"}},
	{Name: "Buypass", Organizations: []string{"Buypass AS-983163327"},
		Identifiers: []string{"buypass.com", "buypass.no"}},
	{Name: "SSL.com", Organizations: []string{"SSL Corporation", "SSL Corp"},
		Identifiers: []string{"ssl.com"}},
	{Name: "Actalis", Organizations: []string{"Actalis S.p.A.", "Actalis S.p.A./03358520967"},
		Identifiers: []string{"actalis.it"}},
	{Name: "HARICA", Organizations: []string{"Hellenic Academic and Research Institutions CA",
		"Hellenic Academic and Research Institutions Cert. Authority"},
		Identifiers: []string{"harica.gr"}},
	{Name: "Certum (Asseco)", Organizations: []string{"Asseco Data Systems S.A.", "Unizeto Technologies S.A."},
		Identifiers: []string{"certum.pl", "certum.eu"}},
	{Name: "IdenTrust", Organizations: []string{"IdenTrust"},
		Identifiers: []string{"identrust.com"}},
	{Name: "SwissSign", Organizations: []string{"SwissSign AG"},
		Identifiers: []string{"swisssign.com"}},
	{Name: "D-TRUST", Organizations: []string{"D-Trust GmbH"},
		Identifiers: []string{"d-trust.net"}},
}

// CATable maps certificate issuers to CAA identifiers: which CA issued a
// certificate, and so which CAA grants let it issue (checks of CAA and of
// unauthorised issuance read it through Snapshot.CATable).
type CATable struct {
	cas   []CA
	byOrg map[string]int // lower-cased organisation → index in cas (first wins)
}

// DefaultCATable returns the built-in table.
func DefaultCATable() *CATable {
	t, err := NewCATable(nil)
	if err != nil {
		panic(err) // the built-in entries are tested
	}
	return t
}

// NewCATable returns the built-in table extended by extra entries, which
// take precedence for the organisations they name. Every entry needs a
// name, at least one organisation and identifiers that parse as RFC 8659
// issuer-domain-names.
func NewCATable(extra []CA) (*CATable, error) {
	t := &CATable{byOrg: map[string]int{}}
	add := func(ca CA, source string) error {
		if strings.TrimSpace(ca.Name) == "" {
			return fmt.Errorf("caa: CA table entry without a name")
		}
		if len(ca.Organizations) == 0 || len(ca.Identifiers) == 0 {
			return fmt.Errorf("caa: CA %q: needs organizations and identifiers", ca.Name)
		}
		ids := make([]string, len(ca.Identifiers))
		for i, id := range ca.Identifiers {
			name, ok := issuerDomainName(id)
			if !ok {
				return fmt.Errorf("caa: CA %q: identifier %q is not an issuer-domain-name", ca.Name, id)
			}
			ids[i] = name
		}
		ca.Identifiers, ca.Source = ids, source
		t.cas = append(t.cas, ca)
		for _, o := range ca.Organizations {
			k := strings.ToLower(strings.TrimSpace(o))
			if _, dup := t.byOrg[k]; !dup {
				t.byOrg[k] = len(t.cas) - 1
			}
		}
		return nil
	}
	for _, ca := range extra {
		if err := add(ca, "config"); err != nil {
			return nil, err
		}
	}
	for _, ca := range builtinCAs {
		if err := add(ca, "builtin"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// All returns the entries, configured ones first.
func (t *CATable) All() []CA { return append([]CA(nil), t.cas...) }

// ForIssuer returns the CA whose organisation appears in issuer.
func (t *CATable) ForIssuer(issuer pkix.Name) (CA, bool) {
	for _, o := range issuer.Organization {
		if i, ok := t.byOrg[strings.ToLower(strings.TrimSpace(o))]; ok {
			return t.cas[i], true
		}
	}
	return CA{}, false
}

// ForIssuerDN is ForIssuer for an issuer written as an RFC 4514 string,
// as pkix.Name.String and the store's certificate summaries write it
// ("CN=R11,O=Let's Encrypt,C=US").
func (t *CATable) ForIssuerDN(dn string) (CA, bool) {
	return t.ForIssuer(pkix.Name{Organization: dnAttr(dn, "O")})
}

// ForIdentifier returns the CA that recognises identifier.
func (t *CATable) ForIdentifier(id string) (CA, bool) {
	id = strings.ToLower(strings.TrimSuffix(id, "."))
	for _, ca := range t.cas {
		for _, x := range ca.Identifiers {
			if x == id {
				return ca, true
			}
		}
	}
	return CA{}, false
}

// Identifiers returns every identifier in the table, sorted.
func (t *CATable) Identifiers() []string {
	seen := map[string]bool{}
	var out []string
	for _, ca := range t.cas {
		for _, x := range ca.Identifiers {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	sort.Strings(out)
	return out
}

// issuerDomainName returns id lower-cased when it is an RFC 8659 §4.2
// issuer-domain-name, label *("." label) with label = (ALPHA / DIGIT)
// *( *("-") (ALPHA / DIGIT)), as a CAA issue value naming the CA without
// parameters writes it: blanks around it and an empty parameter list
// (";") are allowed, a trailing dot is not.
func issuerDomainName(id string) (string, bool) {
	s := strings.Trim(id, " \t")
	if rest, ok := strings.CutSuffix(s, ";"); ok {
		s = strings.TrimRight(rest, " \t")
	}
	if s == "" {
		return "", false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || !isAlnum(label[0]) || !isAlnum(label[len(label)-1]) {
			return "", false
		}
		for i := 0; i < len(label); i++ {
			if !isAlnum(label[i]) && label[i] != '-' {
				return "", false
			}
		}
	}
	return strings.ToLower(s), true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// dnAttr returns the values of attribute typ (e.g. "O") in an RFC 4514
// string, unescaped. Hex-encoded (#…) values are skipped: an issuer's
// organisation is a string.
func dnAttr(dn, typ string) []string {
	var out []string
	var rdn strings.Builder
	flush := func() {
		s := rdn.String()
		rdn.Reset()
		eq := strings.IndexByte(s, '=')
		if eq < 0 || !strings.EqualFold(strings.TrimSpace(s[:eq]), typ) {
			return
		}
		if v := s[eq+1:]; !strings.HasPrefix(v, "#") {
			out = append(out, unescapeDN(v))
		}
	}
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; c {
		case '\\':
			rdn.WriteByte(c)
			if i+1 < len(dn) {
				i++
				rdn.WriteByte(dn[i])
			}
		case ',', '+':
			flush()
		default:
			rdn.WriteByte(c)
		}
	}
	flush()
	return out
}

func unescapeDN(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i+1 >= len(v) {
			b.WriteByte(v[i])
			continue
		}
		i++
		if i+1 < len(v) && isHex(v[i]) && isHex(v[i+1]) {
			b.WriteByte(unhex(v[i])<<4 | unhex(v[i+1]))
			i++
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
