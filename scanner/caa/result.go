package caa

import "github.com/keyaudit/keyaudit/store/records"

// Result is one line of `keyaudit caa` output and one store item: the
// relevant RRset of a name and either the decision for one CA (CA set) or
// the CAs it permits (CA empty). The record lives in store/records.
type Result = records.CAAResult

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
