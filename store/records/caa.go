package records

import (
	"encoding/json"
	"fmt"
	"time"
)

// CAAResult is one line of `keyaudit caa` output and one store.KindCAA
// item: the relevant RRset of a name and either the decision for one CA
// (CA set) or the CAs it permits (CA empty).
type CAAResult struct {
	Name string `json:"name"`
	// CA is the CA identifier decided for; empty in a per-name result.
	CA string `json:"ca,omitempty"`
	// Allowed is the decision for CA (false whenever Error is set).
	Allowed bool `json:"allowed"`
	// Reason explains Allowed, or the permits of a per-name result.
	Reason string `json:"reason,omitempty"`
	// RelevantName is where the relevant RRset was found; empty when
	// none was (any CA may issue) or the lookup failed.
	RelevantName string      `json:"relevant_name"`
	AliasChain   []string    `json:"alias_chain,omitempty"`
	Records      []CAARecord `json:"records"`
	Iodef        []string    `json:"iodef"`
	// Params are the RFC 8657 parameters of the applicable properties
	// naming CA (per-CA results only).
	Params []ACMEParams `json:"params"`
	// Permits and PermitsWildcard are the CAs allowed for the name and for
	// a wildcard at it (per-name results only; nil on error).
	Permits         *CAAPermits `json:"permits,omitempty"`
	PermitsWildcard *CAAPermits `json:"permits_wildcard,omitempty"`
	// Authenticated is true when every answer used carried the AD bit.
	Authenticated bool      `json:"authenticated"`
	Notes         []string  `json:"notes,omitempty"`
	Error         *CAAError `json:"error"`
	Time          time.Time `json:"time"`
}

// MarshalJSON writes the per-CA shape (with allowed and params) or the
// per-name shape (with permits), so each line carries only what applies.
func (r CAAResult) MarshalJSON() ([]byte, error) {
	type plain CAAResult
	p := plain(r)
	if p.Records == nil {
		p.Records = []CAARecord{}
	}
	if p.Iodef == nil {
		p.Iodef = []string{}
	}
	if r.CA != "" {
		if p.Params == nil {
			p.Params = []ACMEParams{}
		}
		return json.Marshal(p)
	}
	return json.Marshal(struct {
		plain
		Allowed bool         `json:"allowed,omitempty"`
		Params  []ACMEParams `json:"params,omitempty"`
	}{plain: p})
}

// CAARecord is one CAA resource record of a relevant RRset, as published.
type CAARecord struct {
	Flags uint8  `json:"flags"`
	Tag   string `json:"tag"`
	Value string `json:"value"`
}

func (r CAARecord) String() string { return fmt.Sprintf("%d %s %q", r.Flags, r.Tag, r.Value) }

// CAA flag bits.
const (
	// CAAFlagCritical is the Issuer Critical flag: bit 0, value 128 (RFC
	// 8659 §4.1).
	CAAFlagCritical uint8 = 0x80
	// CAAFlagCriticalMisread is value 1: RFC 6844's bit numbering led zone
	// operators (and some signers) to set the low bit to mean "critical".
	// Like Let's Encrypt, keyaudit reads it as critical too and says so.
	CAAFlagCriticalMisread uint8 = 0x01
)

// Critical reports whether the record is marked critical, by the RFC's
// bit (128) or by the misread low bit (1).
func (r CAARecord) Critical() bool { return r.Flags&(CAAFlagCritical|CAAFlagCriticalMisread) != 0 }

// CAAPermits is the set of CAs a relevant RRset allows for one kind of
// issuance (a name, or a wildcard name).
type CAAPermits struct {
	// Any is true when CAA does not restrict issuance: no relevant RRset,
	// or none of its properties applies.
	Any bool `json:"any"`
	// CAs are the issuer-domain-names granted, lower-cased and sorted.
	// Empty with Any false means no CA may issue.
	CAs []string `json:"cas"`
	// Conditional are those of CAs granted only under RFC 8657
	// parameters (an account URI, validation methods).
	Conditional []string `json:"conditional,omitempty"`
}

// CAAParam is one tag=value parameter of an issue or issuewild value.
type CAAParam struct {
	Tag   string `json:"tag"`
	Value string `json:"value"`
}

// ACMEParams are the RFC 8657 parameters of one issue or issuewild
// property, with any other parameters kept as written.
type ACMEParams struct {
	// Tag is the property the parameters belong to: issue or issuewild.
	Tag string `json:"tag"`
	// AccountURI holds each accounturi value (more than one makes the
	// property grant nothing: which one would bind is ambiguous).
	AccountURI []string `json:"accounturi,omitempty"`
	// ValidationMethods lists the permitted ACME methods; nil when the
	// parameter is absent, empty when present with no method.
	ValidationMethods []string `json:"validationmethods,omitempty"`
	// Other holds parameters keyaudit does not interpret.
	Other []CAAParam `json:"other,omitempty"`
	// Problem says why the parameters make the property grant nothing.
	Problem string `json:"problem,omitempty"`
}

// Restricts reports whether the parameters narrow the grant (to an
// account or to validation methods).
func (a ACMEParams) Restricts() bool { return len(a.AccountURI) > 0 || a.HasMethods() }

// HasMethods reports whether the property has a validationmethods
// parameter (even an empty one).
func (a ACMEParams) HasMethods() bool { return a.ValidationMethods != nil }

// CAAErrorKind classifies why a CAA lookup failed. It is data in a
// CAAResult, not a failure of the tool.
type CAAErrorKind string

// Error kinds of a CAAResult.
const (
	CAATimeout   CAAErrorKind = "timeout"   // no answer before the deadline
	CAAServFail  CAAErrorKind = "servfail"  // the resolver answered SERVFAIL
	CAARefused   CAAErrorKind = "refused"   // the resolver answered REFUSED
	CAARcode     CAAErrorKind = "rcode"     // another error rcode (FORMERR, NOTIMP …)
	CAAMalformed CAAErrorKind = "malformed" // an answer that does not parse or does not match the query
	CAAOversized CAAErrorKind = "oversized" // an answer beyond the lookup's limits
	CAAAlias     CAAErrorKind = "alias"     // a CNAME loop or a chain longer than the lookup follows
	CAANetwork   CAAErrorKind = "network"   // the resolver could not be reached (ICMP unreachable, no route)
	CAACanceled  CAAErrorKind = "canceled"  // the run was cancelled before the lookup ended
)

// CAAError is a failed lookup, as recorded in a CAAResult.
type CAAError struct {
	Kind    CAAErrorKind `json:"kind"`
	Message string       `json:"message"`
	// QName is the name whose query failed: the name itself, a parent
	// reached while climbing, or an alias target.
	QName string `json:"qname,omitempty"`
}
