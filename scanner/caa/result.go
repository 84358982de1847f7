package caa

import (
	"encoding/json"
	"time"
)

// Result is one line of `keyaudit caa` output and one store item: the
// relevant RRset of a name and either the decision for one CA (CA set) or
// the CAs it permits (CA empty).
type Result struct {
	Name string `json:"name"`
	// CA is the CA identifier decided for; empty in a per-name result.
	CA string `json:"ca,omitempty"`
	// Allowed is the decision for CA (false whenever Error is set).
	Allowed bool `json:"allowed"`
	// Reason explains Allowed, or the permits of a per-name result.
	Reason string `json:"reason,omitempty"`
	// RelevantName is where the relevant RRset was found; empty when
	// none was (any CA may issue) or the lookup failed.
	RelevantName string   `json:"relevant_name"`
	AliasChain   []string `json:"alias_chain,omitempty"`
	Records      []Record `json:"records"`
	Iodef        []string `json:"iodef"`
	// Params are the RFC 8657 parameters of the applicable properties
	// naming CA (per-CA results only).
	Params []ACMEParams `json:"params"`
	// Permits and PermitsWildcard are the CAs allowed for the name and for
	// a wildcard at it (per-name results only; nil on error).
	Permits         *Permits `json:"permits,omitempty"`
	PermitsWildcard *Permits `json:"permits_wildcard,omitempty"`
	// Authenticated is true when every answer used carried the AD bit.
	Authenticated bool      `json:"authenticated"`
	Notes         []string  `json:"notes,omitempty"`
	Error         *Error    `json:"error"`
	Time          time.Time `json:"time"`
}

// MarshalJSON writes the per-CA shape (with allowed and params) or the
// per-name shape (with permits), so each line carries only what applies.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	p := plain(r)
	if p.Records == nil {
		p.Records = []Record{}
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

// Result returns the per-name result: the relevant RRset and the CAs it
// permits for the name and for a wildcard at it.
func (l *Lookup) Result() Result {
	r := l.common()
	if l.Err != nil {
		r.Reason = "CAA lookup failed: no CA can be judged allowed"
		return r
	}
	r.Permits = l.Permits(false)
	r.PermitsWildcard = l.Permits(true)
	switch {
	case l.set == nil:
		r.Reason = "no CAA records at " + l.base() + " or any parent: any CA may issue"
	default:
		w := r.Permits
		if l.Wildcard {
			w = r.PermitsWildcard
		}
		r.Reason = describePermits(*w)
		r.Notes = append(r.Notes, l.set.notes...)
	}
	return r
}

// ResultFor returns the decision for one CA identifier (RFC 8657
// parameters checked when req sets them). req.Identifiers defaults to ca.
func (l *Lookup) ResultFor(ca string, req Request) Result {
	if len(req.Identifiers) == 0 {
		req.Identifiers = []string{ca}
	}
	r := l.common()
	r.CA = ca
	d := l.Decide(req)
	r.Allowed, r.Reason, r.Params = d.Allowed, d.Reason, d.Params
	r.Notes = append(r.Notes, d.Notes...)
	return r
}

func (l *Lookup) common() Result {
	return Result{
		Name:          l.Name,
		RelevantName:  l.RelevantName,
		AliasChain:    l.AliasChain,
		Records:       l.Records,
		Iodef:         l.Iodef(),
		Authenticated: l.Authenticated,
		Error:         toError(l.Err),
		Time:          l.Time,
	}
}

func describePermits(p Permits) string {
	switch {
	case p.Any:
		return "CAA present but restricts nothing here: any CA may issue"
	case len(p.CAs) == 0:
		return "no CA may issue"
	}
	s := "only "
	for i, ca := range p.CAs {
		if i > 0 {
			s += ", "
		}
		s += ca
	}
	return s + " may issue"
}
