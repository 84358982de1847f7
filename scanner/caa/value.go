package caa

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/keyaudit/keyaudit/store/records"
)

// Limits on what one answer may carry. DNS already bounds a message to
// 64 KiB; these keep a hostile zone from filling reports.
const (
	maxRecords    = 256  // CAA records in one relevant RRset
	maxValueBytes = 4096 // bytes in one property value
	maxTagBytes   = 15   // RFC 8659 §4.1: tag length 1–15
	maxAliasHops  = 8    // CNAMEs followed from one queried name
)

// IssueValue is a parsed issue or issuewild property value (RFC 8659 §4.2).
type IssueValue struct {
	// IssuerDomainName is the CA identifier, lower-cased; empty when the
	// value names no CA (`issue ";"`), which grants issuance to nobody.
	IssuerDomainName string `json:"issuer_domain_name"`
	// Params are the parameters in order, tags and values as written.
	Params []Param `json:"params,omitempty"`
}

// Param is one tag=value parameter of an issue or issuewild value.
type Param = records.CAAParam

// ParseIssueValue parses an issue or issuewild value by the RFC 8659 §4.2
// grammar:
//
//	issue-value = *WSP [issuer-domain-name *WSP]
//	              [";" *WSP [parameters *WSP]]
//	issuer-domain-name = label *("." label)
//	label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
//	parameters = (parameter *WSP ";" *WSP parameters) / parameter
//	parameter = tag *WSP "=" *WSP value
//	tag = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
//	value = *(%x21-3A / %x3C-7E)
//
// The grammar is applied strictly: a trailing dot on the issuer domain
// name, a ";" after the last parameter or a parameter without "=" is a
// *ParseError, and a property whose value fails to parse grants nothing.
func ParseIssueValue(v string) (IssueValue, error) {
	p := valueParser{s: v}
	var out IssueValue
	if len(v) > maxValueBytes {
		return out, p.fail(maxValueBytes, "value longer than the limit")
	}
	p.wsp()
	if !p.end() && p.peek() != ';' {
		name, err := p.domainName()
		if err != nil {
			return IssueValue{}, err
		}
		out.IssuerDomainName = strings.ToLower(name)
		p.wsp()
	}
	if p.end() {
		return out, nil
	}
	if p.peek() != ';' {
		return IssueValue{}, p.fail(p.i, "expected ';' or end of value")
	}
	p.i++
	p.wsp()
	if p.end() {
		return out, nil
	}
	for {
		tag, ok := p.ldh()
		if !ok {
			return IssueValue{}, p.fail(p.i, "expected a parameter tag")
		}
		p.wsp()
		if p.end() || p.peek() != '=' {
			return IssueValue{}, p.fail(p.i, "expected '=' after parameter tag")
		}
		p.i++
		p.wsp()
		start := p.i
		for !p.end() && isParamValueChar(p.peek()) {
			p.i++
		}
		out.Params = append(out.Params, Param{Tag: tag, Value: v[start:p.i]})
		p.wsp()
		if p.end() {
			return out, nil
		}
		if p.peek() != ';' {
			return IssueValue{}, p.fail(p.i, "invalid character in parameter value")
		}
		p.i++
		p.wsp()
		if p.end() {
			return IssueValue{}, p.fail(p.i, "';' must be followed by a parameter")
		}
	}
}

type valueParser struct {
	s string
	i int
}

func (p *valueParser) end() bool  { return p.i >= len(p.s) }
func (p *valueParser) peek() byte { return p.s[p.i] }

func (p *valueParser) fail(at int, reason string) error {
	return &ParseError{Value: p.s, Offset: at, Reason: reason}
}

// wsp skips *WSP (space and horizontal tab).
func (p *valueParser) wsp() {
	for !p.end() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

// ldh reads (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)): letters, digits
// and inner hyphens, starting and ending with a letter or digit.
func (p *valueParser) ldh() (string, bool) {
	start := p.i
	for !p.end() && (isAlnum(p.peek()) || p.peek() == '-') {
		p.i++
	}
	tok := p.s[start:p.i]
	if tok == "" || !isAlnum(tok[0]) || !isAlnum(tok[len(tok)-1]) {
		p.i = start
		return "", false
	}
	return tok, true
}

func (p *valueParser) domainName() (string, error) {
	start := p.i
	for {
		if _, ok := p.ldh(); !ok {
			return "", p.fail(p.i, "invalid issuer-domain-name label")
		}
		if p.end() || p.peek() != '.' {
			return p.s[start:p.i], nil
		}
		p.i++ // "." must be followed by another label: no trailing dot
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isParamValueChar is %x21-3A / %x3C-7E: visible ASCII except ';'.
func isParamValueChar(c byte) bool {
	return c >= 0x21 && c <= 0x7e && c != ';'
}

// validTag reports whether a property tag is 1–15 ASCII letters and
// digits (RFC 8659 §4.1).
func validTag(tag string) bool {
	if tag == "" || len(tag) > maxTagBytes {
		return false
	}
	for i := 0; i < len(tag); i++ {
		if !isAlnum(tag[i]) {
			return false
		}
	}
	return true
}

// ACMEParams are the RFC 8657 parameters of one issue or issuewild
// property, with any other parameters kept as written.
type ACMEParams = records.ACMEParams

// ParseACMEParams interprets the RFC 8657 parameters of v. Parameter tags
// are compared case-insensitively: reading "AccountURI" as a restriction
// errs towards reporting less permission, never more.
func ParseACMEParams(tag string, v IssueValue) ACMEParams {
	out := ACMEParams{Tag: tag}
	methodsSeen := 0
	for _, prm := range v.Params {
		switch strings.ToLower(prm.Tag) {
		case "accounturi":
			out.AccountURI = append(out.AccountURI, prm.Value)
			u, err := url.Parse(prm.Value)
			if err != nil || !u.IsAbs() {
				problem(&out, "accounturi %q is not an absolute URI (RFC 3986)", prm.Value)
			}
		case "validationmethods":
			methodsSeen++
			methods, ok := parseValidationMethods(prm.Value)
			if !ok {
				problem(&out, "validationmethods %q does not match RFC 8657 §4 (label *(\",\" label))", prm.Value)
			}
			out.ValidationMethods = append(out.ValidationMethods, methods...)
		default:
			out.Other = append(out.Other, prm)
		}
	}
	if len(out.AccountURI) > 1 {
		problem(&out, "%d accounturi parameters in one property", len(out.AccountURI))
	}
	if methodsSeen > 1 {
		problem(&out, "%d validationmethods parameters in one property", methodsSeen)
	}
	if methodsSeen > 0 && out.ValidationMethods == nil {
		out.ValidationMethods = []string{}
	}
	return out
}

// problem records the first reason the parameters grant nothing.
func problem(a *ACMEParams, format string, args ...any) {
	if a.Problem == "" {
		a.Problem = fmt.Sprintf(format, args...)
	}
}

// parseValidationMethods parses RFC 8657 §4: value = [*(label ",") label],
// label = 1*(ALPHA / DIGIT / "-").
func parseValidationMethods(v string) ([]string, bool) {
	if v == "" {
		return []string{}, true
	}
	parts := strings.Split(v, ",")
	ok := true
	out := make([]string, 0, len(parts))
	for _, m := range parts {
		if m == "" {
			ok = false
			continue
		}
		for i := 0; i < len(m); i++ {
			if !isAlnum(m[i]) && m[i] != '-' {
				ok = false
			}
		}
		out = append(out, m)
	}
	return out, ok
}

// ParseIodef checks an iodef value: a mailto:, http: or https: URL (RFC
// 8659 §4.4).
func ParseIodef(v string) (string, bool) {
	if len(v) > maxValueBytes {
		return "", false
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "mailto":
		return v, u.Opaque != ""
	case "http", "https":
		return v, u.Host != ""
	}
	return "", false
}
