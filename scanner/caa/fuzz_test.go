package caa

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// zoneValues returns the quoted CAA values of the test zones: the fuzz
// seeds.
func zoneValues(f *testing.F) []string {
	files, _ := filepath.Glob(filepath.Join(zoneDir, "*.zone"))
	re := regexp.MustCompile(`(?i)\bCAA\s+\d+\s+\S+\s+"([^"]*)"`)
	var out []string
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
	}
	if len(out) == 0 {
		f.Fatal("no CAA values in the test zones")
	}
	return out
}

// FuzzParseIssueValue checks the issue-value parser on arbitrary input:
// no panic, and whatever it accepts is what the grammar says.
func FuzzParseIssueValue(f *testing.F) {
	for _, v := range zoneValues(f) {
		f.Add(v)
	}
	for _, v := range []string{"", ";", " ; a=b", "a.b; c=d; e=f=g", "a.b;\t c =\t d", "a..b", "a.b.", "a;b", "\x00", strings.Repeat("a.", 3000)} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, in string) {
		v, err := ParseIssueValue(in)
		p := ParseACMEParams("issue", v)
		_ = p.Restricts()
		if err != nil {
			if v.IssuerDomainName != "" || v.Params != nil {
				t.Fatalf("%q: error %v with a value %+v", in, err, v)
			}
			return
		}
		if v.IssuerDomainName != strings.ToLower(v.IssuerDomainName) {
			t.Fatalf("%q: issuer %q not lower-cased", in, v.IssuerDomainName)
		}
		for _, label := range strings.Split(v.IssuerDomainName, ".") {
			if v.IssuerDomainName != "" && (label == "" || !isAlnum(label[0]) || !isAlnum(label[len(label)-1])) {
				t.Fatalf("%q: accepted label %q", in, label)
			}
		}
		for _, prm := range v.Params {
			if prm.Tag == "" || strings.ContainsAny(prm.Value, "; \t") {
				t.Fatalf("%q: accepted parameter %+v", in, prm)
			}
			for i := 0; i < len(prm.Value); i++ {
				if !isParamValueChar(prm.Value[i]) {
					t.Fatalf("%q: parameter value byte %#x", in, prm.Value[i])
				}
			}
		}
		// What parses re-serialises to something that parses the same.
		s := v.IssuerDomainName
		if len(v.Params) > 0 || strings.Contains(in, ";") {
			s += ";"
		}
		for i, prm := range v.Params {
			if i > 0 {
				s += ";"
			}
			s += prm.Tag + "=" + prm.Value
		}
		w, err := ParseIssueValue(s)
		if err != nil || w.IssuerDomainName != v.IssuerDomainName || len(w.Params) != len(v.Params) {
			t.Fatalf("%q re-serialised as %q: %+v, %v", in, s, w, err)
		}
	})
}

// FuzzDecide runs arbitrary records through the analysis and decision: no
// panic, and a critical unknown tag always forbids.
func FuzzDecide(f *testing.F) {
	for _, v := range zoneValues(f) {
		f.Add(uint8(0), "issue", v, false)
		f.Add(uint8(128), "issuewild", v, true)
	}
	f.Add(uint8(1), "tbs", "x", false)
	f.Add(uint8(0), "iodef", "mailto:a@b", false)
	f.Fuzz(func(t *testing.T, flags uint8, tag, value string, wildcard bool) {
		recs := []Record{{Flags: flags, Tag: tag, Value: value}, {Tag: "issue", Value: "ca.example"}}
		s := analyze(recs)
		d := s.decide("x", wildcard, Request{Identifiers: []string{"ca.example"}})
		p := s.permits(wildcard)
		crit := flags&0x81 != 0 && !(knownTags[strings.ToLower(tag)] && validTag(tag))
		if crit && (d.Allowed || p.Any || len(p.CAs) > 0) {
			t.Fatalf("critical unknown %q (flags %d) allowed issuance: %+v %+v", tag, flags, d, p)
		}
		if d.Allowed != (p.Any || contains(p.CAs, "ca.example")) {
			t.Fatalf("decision %+v disagrees with permits %+v", d, p)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
