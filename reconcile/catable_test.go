package reconcile

import (
	"crypto/x509/pkix"
	"slices"
	"testing"
)

func TestDefaultCATable(t *testing.T) {
	tbl := DefaultCATable()
	for _, tc := range []struct {
		dn   string
		name string
		id   string
	}{
		{"CN=R11,O=Let's Encrypt,C=US", "Let's Encrypt", "letsencrypt.org"},
		{"CN=E6,O=Let's Encrypt,C=US", "Let's Encrypt", "letsencrypt.org"},
		{"CN=WR2,O=Google Trust Services,C=US", "Google Trust Services", "pki.goog"},
		{"CN=GeoTrust TLS RSA CA G1,OU=www.digicert.com,O=DigiCert Inc,C=US", "DigiCert", "digicert.com"},
		{"CN=Sectigo RSA Domain Validation Secure Server CA,O=Sectigo Limited,L=Salford,ST=Greater Manchester,C=GB", "Sectigo", "sectigo.com"},
		{"CN=ZeroSSL RSA Domain Secure Site CA,O=ZeroSSL,C=AT", "ZeroSSL (Sectigo)", "sectigo.com"},
		{"CN=Amazon RSA 2048 M02,O=Amazon,C=US", "Amazon Trust Services", "amazontrust.com"},
		{`CN=Go Daddy Secure Certificate Authority - G2,OU=http://certs.godaddy.com/repository/,O=GoDaddy.com\, Inc.,L=Scottsdale,ST=Arizona,C=US`, "GoDaddy", "godaddy.com"},
		{"CN=x,O=let's encrypt", "Let's Encrypt", "letsencrypt.org"},
	} {
		ca, ok := tbl.ForIssuerDN(tc.dn)
		if !ok || ca.Name != tc.name || !slices.Contains(ca.Identifiers, tc.id) || ca.Source != "builtin" {
			t.Errorf("%s: got %+v, %v", tc.dn, ca, ok)
		}
	}
	for _, dn := range []string{"CN=Pebble Intermediate CA 0b1c2d", "O=Unknown CA", "", "CN=Let's Encrypt"} {
		if ca, ok := tbl.ForIssuerDN(dn); ok {
			t.Errorf("%s: matched %+v", dn, ca)
		}
	}
	if ca, ok := tbl.ForIdentifier("SYMANTEC.com."); !ok || ca.Name != "DigiCert" {
		t.Errorf("ForIdentifier: %+v", ca)
	}
	ids := tbl.Identifiers()
	if !slices.IsSorted(ids) || !slices.Contains(ids, "letsencrypt.org") {
		t.Errorf("identifiers %v", ids)
	}
}

func TestCATableExtension(t *testing.T) {
	tbl, err := NewCATable([]CA{{Name: "Local", Organizations: []string{"Let's Encrypt", "Example Corp"}, Identifiers: []string{"CA.Example"}}})
	if err != nil {
		t.Fatal(err)
	}
	ca, ok := tbl.ForIssuer(pkix.Name{Organization: []string{"Example Corp"}})
	if !ok || ca.Source != "config" || !slices.Equal(ca.Identifiers, []string{"ca.example"}) {
		t.Errorf("got %+v", ca)
	}
	// Configured entries take precedence.
	if ca, _ := tbl.ForIssuerDN("CN=R11,O=Let's Encrypt,C=US"); ca.Name != "Local" {
		t.Errorf("precedence: %+v", ca)
	}
	if all := tbl.All(); all[0].Name != "Local" || len(all) != len(builtinCAs)+1 {
		t.Errorf("All: %d entries, first %q", len(all), all[0].Name)
	}
	for _, bad := range []CA{
		{Organizations: []string{"x"}, Identifiers: []string{"a.example"}},
		{Name: "x", Identifiers: []string{"a.example"}},
		{Name: "x", Organizations: []string{"x"}},
		{Name: "x", Organizations: []string{"x"}, Identifiers: []string{"a.example."}},
		{Name: "x", Organizations: []string{"x"}, Identifiers: []string{"a.example; p=v"}},
		{Name: "x", Organizations: []string{"x"}, Identifiers: []string{";"}},
	} {
		if _, err := NewCATable([]CA{bad}); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func TestCATableBrands(t *testing.T) {
	// A brand's certificate maps to its CA's identifiers: a GeoTrust
	// issuer is DigiCert, which issue "symantec.com" still grants.
	ca, ok := DefaultCATable().ForIssuerDN("CN=GeoTrust TLS RSA CA G1,O=DigiCert Inc,C=US")
	if !ok || !slices.Contains(ca.Identifiers, "symantec.com") {
		t.Errorf("GeoTrust: %+v, %v", ca, ok)
	}
	if le, _ := DefaultCATable().ForIdentifier("letsencrypt.org"); slices.Contains(le.Identifiers, "symantec.com") {
		t.Errorf("Let's Encrypt: %+v", le)
	}
}

func TestIssuerDomainName(t *testing.T) {
	for in, want := range map[string]string{
		"CA.Example":      "ca.example",
		" ca.example\t":   "ca.example",
		"ca.example;":     "ca.example",
		"ca.example ; ":   "ca.example",
		"x--y.example":    "x--y.example",
		"ca":              "ca",
		"ca.example.":     "",
		".ca.example":     "",
		"ca..example":     "",
		"-ca.example":     "",
		"ca-.example":     "",
		"ca.example; p=v": "",
		"ca.example;;":    "",
		";":               "",
		"":                "",
		"ca_x.example":    "",
		"ca example":      "",
	} {
		got, ok := issuerDomainName(in)
		if got != want || ok != (want != "") {
			t.Errorf("issuerDomainName(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestDNAttr(t *testing.T) {
	for dn, want := range map[string][]string{
		"CN=a,O=b,C=c":          {"b"},
		`O=Foo\, Inc.`:          {"Foo, Inc."},
		`O=a+O=b`:               {"a", "b"},
		`o=lower`:               {"lower"},
		`O=\41\42C`:             {"ABC"},
		`O=#04036162`:           nil,
		`CN=x\,O=y`:             nil,
		`O=trailing\`:           {`trailing\`},
		`OU=not,O=yes,OU=again`: {"yes"},
	} {
		if got := dnAttr(dn, "O"); !slices.Equal(got, want) {
			t.Errorf("dnAttr(%q) = %q, want %q", dn, got, want)
		}
	}
}

// FuzzDNAttr checks the RFC 4514 attribute reader used to map issuers to CAs.
func FuzzDNAttr(f *testing.F) {
	for _, s := range []string{"CN=R11,O=Let's Encrypt,C=US", `CN=x,O=Foo\, Inc.,C=US`, `O=a+CN=b`, `O=#0403616263`, `O=\41\42`, `O=\`, `=`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		for _, v := range dnAttr(dn, "O") {
			_ = v
		}
		_, _ = DefaultCATable().ForIssuerDN(dn)
	})
}
