package caa

import (
	"strings"
	"testing"
)

func rec(flags uint8, tag, value string) Record { return Record{Flags: flags, Tag: tag, Value: value} }

// TestDecide covers the decision rules without DNS; the Knot tests cover
// them again end to end.
func TestDecide(t *testing.T) {
	le := Request{Identifiers: []string{"letsencrypt.org"}}
	ca := Request{Identifiers: []string{"ca.example"}}
	for _, tc := range []struct {
		name     string
		recs     []Record
		wildcard bool
		req      Request
		allowed  bool
		reason   string // substring
	}{
		{"issue grants", []Record{rec(0, "issue", "letsencrypt.org")}, false, le, true, "grants letsencrypt.org"},
		{"issue other", []Record{rec(0, "issue", "ca.example")}, false, le, false, "allows only ca.example"},
		{"any identifier of the CA", []Record{rec(0, "issue", "symantec.com")}, false,
			Request{Identifiers: []string{"digicert.com", "symantec.com"}}, true, ""},
		{"issue ;", []Record{rec(0, "issue", ";")}, false, le, false, "grants issuance to no CA"},
		{"issue ; beside a grant", []Record{rec(0, "issue", ";"), rec(0, "issue", "letsencrypt.org")}, false, le, true, ""},
		{"iodef only", []Record{rec(0, "iodef", "mailto:a@b.example")}, false, le, true, "not restricted"},
		{"issuewild only, plain name", []Record{rec(0, "issuewild", ";")}, false, le, true, "not restricted"},
		{"issuewild only, wildcard", []Record{rec(0, "issuewild", ";")}, true, le, false, "issuewild"},
		{"issuewild beats issue", []Record{rec(0, "issue", "letsencrypt.org"), rec(0, "issuewild", "ca.example")}, true, le, false, ""},
		{"issuewild grants", []Record{rec(0, "issue", "letsencrypt.org"), rec(0, "issuewild", "ca.example")}, true, ca, true, ""},
		{"issue for wildcard without issuewild", []Record{rec(0, "issue", "ca.example")}, true, ca, true, ""},
		{"issuewild ignored for plain name", []Record{rec(0, "issue", "ca.example"), rec(0, "issuewild", "letsencrypt.org")}, false, le, false, ""},
		{"critical unknown 128", []Record{rec(0, "issue", "letsencrypt.org"), rec(128, "tbs", "x")}, false, le, false, "critical"},
		{"critical unknown 1", []Record{rec(0, "issue", "letsencrypt.org"), rec(1, "tbs", "x")}, false, le, false, "critical"},
		{"critical unknown 129", []Record{rec(0, "issue", "letsencrypt.org"), rec(129, "TBS", "x")}, false, le, false, "critical"},
		{"non-critical unknown", []Record{rec(0, "issue", "letsencrypt.org"), rec(2, "tbs", "x")}, false, le, true, ""},
		{"critical known", []Record{rec(128, "issue", "letsencrypt.org"), rec(128, "contactemail", "a@b")}, false, le, true, ""},
		{"critical invalid tag", []Record{rec(0, "issue", "letsencrypt.org"), rec(128, "is-sue", "x")}, false, le, false, "critical"},
		{"tag case", []Record{rec(0, "IsSuE", "letsencrypt.org")}, false, le, true, ""},
		{"issuer case", []Record{rec(0, "issue", "LETSENCRYPT.org")}, false, le, true, ""},
		{"request case", []Record{rec(0, "issue", "letsencrypt.org")}, false, Request{Identifiers: []string{"LetsEncrypt.Org."}}, true, ""},
		{"malformed grants nothing", []Record{rec(0, "issue", "letsencrypt.org.")}, false, le, false, "malformed"},
		{"account matches", []Record{rec(0, "issue", "letsencrypt.org; accounturi=https://le/acct/1")}, false,
			Request{Identifiers: le.Identifiers, AccountURI: "https://le/acct/1"}, true, ""},
		{"account differs", []Record{rec(0, "issue", "letsencrypt.org; accounturi=https://le/acct/1")}, false,
			Request{Identifiers: le.Identifiers, AccountURI: "https://le/acct/2"}, false, "accounturi"},
		{"account unchecked", []Record{rec(0, "issue", "letsencrypt.org; accounturi=https://le/acct/1")}, false, le, true, ""},
		{"method matches", []Record{rec(0, "issue", "letsencrypt.org; validationmethods=dns-01,http-01")}, false,
			Request{Identifiers: le.Identifiers, ValidationMethod: "http-01"}, true, ""},
		{"method excluded", []Record{rec(0, "issue", "letsencrypt.org; validationmethods=dns-01")}, false,
			Request{Identifiers: le.Identifiers, ValidationMethod: "http-01"}, false, "validationmethods"},
		{"second property grants", []Record{rec(0, "issue", "letsencrypt.org; validationmethods=dns-01"), rec(0, "issue", "letsencrypt.org")}, false,
			Request{Identifiers: le.Identifiers, ValidationMethod: "http-01"}, true, ""},
		{"two accounturi", []Record{rec(0, "issue", "letsencrypt.org; accounturi=https://a/1; accounturi=https://a/1")}, false, le, false, "accounturi"},
		{"bad methods", []Record{rec(0, "issue", "letsencrypt.org; validationmethods=dns 01")}, false, le, false, ""},
	} {
		d := analyze(tc.recs).decide("x.example", tc.wildcard, tc.req)
		if d.Allowed != tc.allowed || !strings.Contains(d.Reason, tc.reason) {
			t.Errorf("%s: allowed %v, reason %q; want %v, reason containing %q", tc.name, d.Allowed, d.Reason, tc.allowed, tc.reason)
		}
	}
}

func TestPermits(t *testing.T) {
	s := analyze([]Record{
		rec(0, "issue", "b.example"), rec(0, "issue", "a.example; validationmethods=dns-01"),
		rec(0, "issue", ";"), rec(0, "issue", "bad..example"),
		rec(0, "issuewild", "w.example"),
	})
	p := s.permits(false)
	if p.Any || strings.Join(p.CAs, ",") != "a.example,b.example" || strings.Join(p.Conditional, ",") != "a.example" {
		t.Errorf("permits = %+v", p)
	}
	if w := s.permits(true); w.Any || strings.Join(w.CAs, ",") != "w.example" {
		t.Errorf("wildcard permits = %+v", w)
	}
	crit := analyze([]Record{rec(0, "issue", "a.example"), rec(128, "future", "x")})
	if p := crit.permits(false); p.Any || len(p.CAs) != 0 {
		t.Errorf("critical permits = %+v", p)
	}
	if p := analyze([]Record{rec(0, "iodef", "mailto:x@y")}).permits(true); !p.Any {
		t.Errorf("iodef-only permits = %+v", p)
	}
}

func TestNotes(t *testing.T) {
	s := analyze([]Record{rec(1, "tbs", "x"), rec(0, "iodef", "gopher://x"), rec(0, "issue", "a.example."), rec(0, "waytoolongtagname", "x")})
	all := strings.Join(s.notes, "\n")
	for _, want := range []string{"low bit", "iodef value", "RFC 8659 §4.2", "1-15"} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
}

func TestLookupDecideAnyIdentifier(t *testing.T) {
	// A CA known by several identifiers (DigiCert and its brands) is
	// granted by a property naming any one of them.
	l := &Lookup{Name: "example.com", RelevantName: "example.com",
		Records: []Record{{Tag: "issue", Value: "symantec.com"}}}
	l.set = analyze(l.Records)
	if d := l.Decide(Request{Identifiers: []string{"digicert.com", "Symantec.com.", "geotrust.com"}}); !d.Allowed {
		t.Errorf("DigiCert via symantec.com: %+v", d)
	}
	if d := l.Decide(Request{Identifiers: []string{"letsencrypt.org"}}); d.Allowed {
		t.Errorf("Let's Encrypt allowed: %+v", d)
	}
}
