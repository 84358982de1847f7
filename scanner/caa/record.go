package caa

import (
	"fmt"
	"sort"
	"strings"

	"github.com/keyaudit/keyaudit/store/records"
)

// Record is one CAA resource record of a relevant RRset, as published.
type Record = records.CAARecord

// Flag bits.
const (
	// FlagCritical is the Issuer Critical flag: bit 0, value 128 (RFC 8659 §4.1).
	FlagCritical = records.CAAFlagCritical
	// flagCriticalMisread is value 1, which this package reads as
	// critical too (see records.CAAFlagCriticalMisread).
	flagCriticalMisread = records.CAAFlagCriticalMisread
)

// knownTags are the property tags registered with IANA ("Certification
// Authority Restriction Properties"). issue, issuewild and iodef shape TLS
// issuance; contactemail and contactphone (CA/Browser Forum) only publish
// contacts; issuemail (RFC 9495) and issuevmc (BIMI) concern other
// certificate types, which a TLS issuer ignores but does not refuse.
// Any other tag is unknown and, when critical, forbids all issuance.
var knownTags = map[string]bool{
	"issue": true, "issuewild": true, "iodef": true,
	"contactemail": true, "contactphone": true,
	"issuemail": true, "issuevmc": true,
}

// property is one analysed record.
type property struct {
	rec      Record
	tag      string // lower-cased
	value    IssueValue
	parseErr error
	acme     ACMEParams
}

// rrset is a relevant RRset, analysed once for every decision made on it.
type rrset struct {
	issue, issuewild []property
	criticalUnknown  []string // tags, as written
	iodef            []string
	notes            []string
}

func analyze(recs []Record) *rrset {
	s := &rrset{}
	for _, r := range recs {
		tag := strings.ToLower(r.Tag)
		if !validTag(r.Tag) {
			s.notef("tag %q is not 1-15 ASCII letters and digits (RFC 8659 §4.1): treated as unknown", r.Tag)
		}
		if r.Flags&flagCriticalMisread != 0 && r.Flags&FlagCritical == 0 {
			s.notef("%s: flags %d has the low bit set; read as critical (RFC 6844's bit numbering made operators set 1 for critical)", r, r.Flags)
		}
		if other := r.Flags &^ (FlagCritical | flagCriticalMisread); other != 0 {
			s.notef("%s: reserved flag bits 0x%02x set, ignored (RFC 8659 §4.1)", r, other)
		}
		switch {
		case tag == "issue" || tag == "issuewild":
			p := property{rec: r, tag: tag}
			p.value, p.parseErr = ParseIssueValue(r.Value)
			if p.parseErr != nil {
				s.notef("%s: value does not match the RFC 8659 §4.2 grammar, so it grants issuance to no CA: %v", r, p.parseErr)
			} else {
				p.acme = ParseACMEParams(tag, p.value)
			}
			if tag == "issue" {
				s.issue = append(s.issue, p)
			} else {
				s.issuewild = append(s.issuewild, p)
			}
		case tag == "iodef":
			if u, ok := ParseIodef(r.Value); ok {
				s.iodef = append(s.iodef, u)
			} else {
				s.notef("%s: iodef value is not a mailto:, http: or https: URL (RFC 8659 §4.4), ignored", r)
			}
		case knownTags[tag] && validTag(r.Tag):
			// Registered, restricts nothing for TLS issuance.
		default:
			if r.Critical() {
				s.criticalUnknown = append(s.criticalUnknown, r.Tag)
			}
		}
	}
	return s
}

func (s *rrset) notef(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// applicable returns the properties that decide issuance (RFC 8659 §4.3):
// issuewild for a wildcard name when the set has any, otherwise issue.
func (s *rrset) applicable(wildcard bool) ([]property, string) {
	if wildcard && len(s.issuewild) > 0 {
		return s.issuewild, "issuewild"
	}
	return s.issue, "issue"
}

// Permits is the set of CAs a relevant RRset allows for one kind of
// issuance (a name, or a wildcard name).
type Permits = records.CAAPermits

func (s *rrset) permits(wildcard bool) Permits {
	if len(s.criticalUnknown) > 0 {
		return Permits{CAs: []string{}}
	}
	props, _ := s.applicable(wildcard)
	if len(props) == 0 {
		return Permits{Any: true, CAs: []string{}}
	}
	granted := map[string]bool{} // name -> unconditional
	for _, p := range props {
		if p.parseErr != nil || p.value.IssuerDomainName == "" || p.acme.Problem != "" {
			continue
		}
		granted[p.value.IssuerDomainName] = granted[p.value.IssuerDomainName] || !p.acme.Restricts()
	}
	out := Permits{CAs: []string{}}
	for name, unconditional := range granted {
		out.CAs = append(out.CAs, name)
		if !unconditional {
			out.Conditional = append(out.Conditional, name)
		}
	}
	sort.Strings(out.CAs)
	sort.Strings(out.Conditional)
	return out
}

// Request names what to decide for.
type Request struct {
	// Identifiers are the CA's CAA identifiers (issuer-domain-names); a
	// grant to any one of them is a grant to the CA. Compared
	// case-insensitively.
	Identifiers []string
	// AccountURI, when set, is the ACME account the CA would issue under:
	// a property with an accounturi parameter grants only to it (RFC 8657
	// §3). When empty, such properties count as granting and the
	// restriction is reported in the Decision's Params and Notes.
	AccountURI string
	// ValidationMethod, when set, is the ACME validation method used
	// (dns-01, http-01 …): a property with validationmethods grants only
	// for those (RFC 8657 §4). Same reporting as AccountURI when empty.
	ValidationMethod string
}

// Decision is the answer of a relevant RRset for one CA.
type Decision struct {
	Allowed bool
	Reason  string
	// Params are the RFC 8657 parameters of the applicable properties
	// that name the CA.
	Params []ACMEParams
	Notes  []string
}

func (s *rrset) decide(where string, wildcard bool, req Request) Decision {
	if len(s.criticalUnknown) > 0 {
		return Decision{Reason: fmt.Sprintf("%s has a critical property with unknown tag %q: no CA may issue (RFC 8659 §4.1)",
			where, s.criticalUnknown[0])}
	}
	props, kind := s.applicable(wildcard)
	if len(props) == 0 {
		what := "an issue property"
		if wildcard {
			what = "an issue or issuewild property"
		}
		return Decision{Allowed: true, Reason: fmt.Sprintf("CAA at %s has no %s: issuance not restricted", where, what)}
	}
	ids := map[string]bool{}
	for _, id := range req.Identifiers {
		ids[strings.ToLower(strings.TrimSuffix(id, "."))] = true
	}
	var d Decision
	var refusals []string
	for _, p := range props {
		if p.parseErr != nil || !ids[p.value.IssuerDomainName] {
			continue
		}
		d.Params = append(d.Params, p.acme)
		if why := refuses(p.acme, req); why != "" {
			refusals = append(refusals, fmt.Sprintf("%s: %s", p.rec, why))
			continue
		}
		if !d.Allowed {
			d.Allowed = true
			d.Reason = fmt.Sprintf("%s %s at %s grants %s", kind, quote(p.rec.Value), where, p.value.IssuerDomainName)
		}
		if req.AccountURI == "" && len(p.acme.AccountURI) > 0 {
			d.Notes = append(d.Notes, fmt.Sprintf("%s: only for ACME account %s (not checked: no account given)", p.rec, p.acme.AccountURI[0]))
		}
		if req.ValidationMethod == "" && p.acme.HasMethods() {
			d.Notes = append(d.Notes, fmt.Sprintf("%s: only with validation methods %v (not checked: no method given)", p.rec, p.acme.ValidationMethods))
		}
	}
	if d.Allowed {
		return d
	}
	d.Notes = append(d.Notes, refusals...)
	if len(refusals) > 0 {
		d.Reason = fmt.Sprintf("%s properties at %s name the CA but their parameters refuse: %s", kind, where, strings.Join(refusals, "; "))
		return d
	}
	granted := map[string]bool{}
	malformed := 0
	for _, p := range props {
		switch {
		case p.parseErr != nil:
			malformed++
		case p.value.IssuerDomainName != "":
			granted[p.value.IssuerDomainName] = true
		}
	}
	list := make([]string, 0, len(granted))
	for n := range granted {
		list = append(list, n)
	}
	sort.Strings(list)
	if len(list) == 0 {
		d.Reason = fmt.Sprintf("%s at %s grants issuance to no CA", kind, where)
	} else {
		d.Reason = fmt.Sprintf("%s at %s allows only %s", kind, where, strings.Join(list, ", "))
	}
	if malformed > 0 {
		d.Reason += fmt.Sprintf(" (%d malformed value(s) grant nothing)", malformed)
	}
	return d
}

// refuses says why a, the parameters of a property naming the CA, keep
// it from granting, or "" when they do not.
func refuses(a ACMEParams, req Request) string {
	if a.Problem != "" {
		return a.Problem
	}
	if req.AccountURI != "" && len(a.AccountURI) == 1 && a.AccountURI[0] != req.AccountURI {
		return fmt.Sprintf("accounturi %s is not %s (RFC 8657 §3)", a.AccountURI[0], req.AccountURI)
	}
	if req.ValidationMethod != "" && a.HasMethods() {
		for _, m := range a.ValidationMethods {
			if strings.EqualFold(m, req.ValidationMethod) {
				return ""
			}
		}
		return fmt.Sprintf("validationmethods %v excludes %s (RFC 8657 §4)", a.ValidationMethods, req.ValidationMethod)
	}
	return ""
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
