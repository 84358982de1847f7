package caa

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseIssueValue(t *testing.T) {
	for _, tc := range []struct {
		in     string
		issuer string
		params []Param
		bad    bool
	}{
		{in: "letsencrypt.org", issuer: "letsencrypt.org"},
		{in: "  LetsEncrypt.ORG\t", issuer: "letsencrypt.org"},
		{in: "", issuer: ""},
		{in: ";", issuer: ""},
		{in: " ; ", issuer: ""},
		{in: "ca.example;", issuer: "ca.example"},
		{in: "ca.example; a=b", issuer: "ca.example", params: []Param{{Tag: "a", Value: "b"}}},
		{in: "ca.example;a=b;c-d=e=f", issuer: "ca.example", params: []Param{{Tag: "a", Value: "b"}, {Tag: "c-d", Value: "e=f"}}},
		{in: "ca.example ; a = b ; c=", issuer: "ca.example", params: []Param{{Tag: "a", Value: "b"}, {Tag: "c", Value: ""}}},
		{in: "; a=b", issuer: "", params: []Param{{Tag: "a", Value: "b"}}},
		{in: "x--y.example", issuer: "x--y.example"},
		{in: "1.2.3", issuer: "1.2.3"},
		{in: "letsencrypt.org; accounturi=https://acme.example/acct/1?x=y; validationmethods=dns-01,http-01",
			issuer: "letsencrypt.org", params: []Param{{Tag: "accounturi", Value: "https://acme.example/acct/1?x=y"}, {Tag: "validationmethods", Value: "dns-01,http-01"}}},
		// Off the grammar.
		{in: "letsencrypt.org.", bad: true},
		{in: ".letsencrypt.org", bad: true},
		{in: "lets..encrypt", bad: true},
		{in: "-ca.example", bad: true},
		{in: "ca-.example", bad: true},
		{in: "ca_x.example", bad: true},
		{in: "ca.example x", bad: true},
		{in: "ca.example; novalue", bad: true},
		{in: "ca.example; a=b;", bad: true},
		{in: "ca.example; a=b c", bad: true},
		{in: "ca.example; -a=b", bad: true},
		{in: "ca.example; a=\x7f", bad: true},
		{in: "ca.example; a=é", bad: true},
		{in: "ca.example;;", bad: true},
		{in: "ca.example\n", bad: true},
		{in: "bücher.example", bad: true},
	} {
		v, err := ParseIssueValue(tc.in)
		if tc.bad {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("%q: got %+v, %v; want a *ParseError", tc.in, v, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if v.IssuerDomainName != tc.issuer || !reflect.DeepEqual(v.Params, tc.params) {
			t.Errorf("%q: got %q %v; want %q %v", tc.in, v.IssuerDomainName, v.Params, tc.issuer, tc.params)
		}
	}
}

func TestParseACMEParams(t *testing.T) {
	for _, tc := range []struct {
		in        string
		account   []string
		methods   []string
		restricts bool
		problem   bool
	}{
		{in: "ca.example"},
		{in: "ca.example; foo=bar"},
		{in: "ca.example; accounturi=https://ca.example/acct/1", account: []string{"https://ca.example/acct/1"}, restricts: true},
		{in: "ca.example; AccountURI=https://ca.example/acct/1", account: []string{"https://ca.example/acct/1"}, restricts: true},
		{in: "ca.example; accounturi=relative/path", account: []string{"relative/path"}, restricts: true, problem: true},
		{in: "ca.example; accounturi=https://a/1; accounturi=https://a/2", account: []string{"https://a/1", "https://a/2"}, restricts: true, problem: true},
		{in: "ca.example; validationmethods=dns-01", methods: []string{"dns-01"}, restricts: true},
		{in: "ca.example; validationmethods=dns-01,http-01,tls-alpn-01", methods: []string{"dns-01", "http-01", "tls-alpn-01"}, restricts: true},
		{in: "ca.example; validationmethods=", methods: []string{}, restricts: true},
		{in: "ca.example; validationmethods=dns_01", methods: []string{"dns_01"}, restricts: true, problem: true},
		{in: "ca.example; validationmethods=dns-01,", methods: []string{"dns-01"}, restricts: true, problem: true},
		{in: "ca.example; validationmethods=a; validationmethods=b", methods: []string{"a", "b"}, restricts: true, problem: true},
	} {
		v, err := ParseIssueValue(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		p := ParseACMEParams("issue", v)
		if !reflect.DeepEqual(p.AccountURI, tc.account) || !reflect.DeepEqual(p.ValidationMethods, tc.methods) ||
			p.Restricts() != tc.restricts || (p.Problem != "") != tc.problem {
			t.Errorf("%q: got %+v (restricts %v)", tc.in, p, p.Restricts())
		}
	}
}

func TestParseIodef(t *testing.T) {
	for in, ok := range map[string]bool{
		"mailto:security@example.com":  true,
		"https://iodef.example/report": true,
		"http://iodef.example/":        true,
		"ftp://iodef.example/":         false,
		"mailto:":                      false,
		"https://":                     false,
		"not a url":                    false,
		"":                             false,
	} {
		if _, got := ParseIodef(in); got != ok {
			t.Errorf("ParseIodef(%q) = %v, want %v", in, got, ok)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM":         "example.com.",
		"example.com.":        "example.com.",
		"*.example.com":       "*example.com.",
		"bücher.example":      "xn--bcher-kva.example.",
		"_acme-challenge.a.b": "_acme-challenge.a.b.",
		"com":                 "com.",
		"":                    "",
		"*.":                  "",
		"a.*.example.com":     "",
		"192.0.2.1":           "",
		"2001:db8::1":         "",
		"exa mple.com":        "",
		"a..b":                "",
	} {
		fqdn, wild, err := NormalizeName(in)
		got := fqdn
		if wild {
			got = "*" + fqdn
		}
		if want == "" {
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("NormalizeName(%q) = %q, %v; want ErrInvalidName", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
