package reports

import (
	"slices"
	"strconv"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// The table and CSV columns of the streams the commands print.

// ObservationColumns are the table and CSV columns of observations.
var ObservationColumns = []Column[records.Observation]{
	{Header: "TARGET", Value: func(o records.Observation) string { return o.Target }},
	{Header: "IP", Value: func(o records.Observation) string { return o.IP }},
	{Header: "PROTOCOL", Value: func(o records.Observation) string { return o.Protocol }},
	{Header: "TLS", Value: func(o records.Observation) string { return o.TLSVersion }},
	{Header: "SUBJECT", Value: func(o records.Observation) string {
		if l := o.Leaf(); l != nil {
			return l.Subject
		}
		return ""
	}},
	{Header: "KEY", Value: func(o records.Observation) string {
		if l := o.Leaf(); l != nil {
			if l.Curve != "" && l.Curve != l.KeyType {
				return l.KeyType + " " + l.Curve
			}
			return l.KeyType + " " + strconv.Itoa(l.KeyBits)
		}
		return ""
	}},
	{Header: "EXPIRES", Value: func(o records.Observation) string {
		if l := o.Leaf(); l != nil {
			return l.NotAfter.Format("2006-01-02")
		}
		return ""
	}},
	{Header: "SPKI SHA-256", Value: func(o records.Observation) string {
		if l := o.Leaf(); l != nil && len(l.SPKISHA256) >= 16 {
			return l.SPKISHA256[:16]
		}
		return ""
	}},
	{Header: "ERROR", Value: func(o records.Observation) string {
		if o.Error != nil {
			return string(o.Error.Kind) + ": " + o.Error.Message
		}
		return ""
	}},
}

func caaErrorCell(r records.CAAResult) string {
	if r.Error == nil {
		return ""
	}
	return string(r.Error.Kind) + ": " + r.Error.Message
}

func caaRecordsCell(r records.CAAResult) string {
	s := make([]string, len(r.Records))
	for i, rec := range r.Records {
		s[i] = rec.String()
	}
	return strings.Join(s, "; ")
}

func permitsCell(p *records.CAAPermits) string {
	switch {
	case p == nil:
		return ""
	case p.Any:
		return "any"
	case len(p.CAs) == 0:
		return "none"
	}
	out := make([]string, len(p.CAs))
	for i, ca := range p.CAs {
		out[i] = ca
		if slices.Contains(p.Conditional, ca) {
			out[i] += " (conditional)"
		}
	}
	return strings.Join(out, " ")
}

func relevantCell(r records.CAAResult) string {
	s := r.RelevantName
	if n := len(r.AliasChain); n > 0 {
		s += " → " + strings.Join(r.AliasChain, " → ")
	}
	return s
}

// CAACAColumns are the table and CSV columns of per-CA results.
var CAACAColumns = []Column[records.CAAResult]{
	{Header: "NAME", Value: func(r records.CAAResult) string { return r.Name }},
	{Header: "CA", Value: func(r records.CAAResult) string { return r.CA }},
	{Header: "ALLOWED", Value: func(r records.CAAResult) string {
		if r.Error != nil {
			return "error"
		}
		return strconv.FormatBool(r.Allowed)
	}},
	{Header: "RELEVANT NAME", Value: relevantCell},
	{Header: "RECORDS", Value: caaRecordsCell},
	{Header: "IODEF", Value: func(r records.CAAResult) string { return strings.Join(r.Iodef, " ") }},
	{Header: "AD", Value: func(r records.CAAResult) string { return strconv.FormatBool(r.Authenticated) }},
	{Header: "REASON", Value: func(r records.CAAResult) string { return r.Reason }},
	{Header: "ERROR", Value: caaErrorCell},
}

// CAANameColumns are the table and CSV columns of per-name results.
var CAANameColumns = []Column[records.CAAResult]{
	{Header: "NAME", Value: func(r records.CAAResult) string { return r.Name }},
	{Header: "RELEVANT NAME", Value: relevantCell},
	{Header: "RECORDS", Value: caaRecordsCell},
	{Header: "PERMITS", Value: func(r records.CAAResult) string { return permitsCell(r.Permits) }},
	{Header: "PERMITS WILDCARD", Value: func(r records.CAAResult) string { return permitsCell(r.PermitsWildcard) }},
	{Header: "IODEF", Value: func(r records.CAAResult) string { return strings.Join(r.Iodef, " ") }},
	{Header: "AD", Value: func(r records.CAAResult) string { return strconv.FormatBool(r.Authenticated) }},
	{Header: "ERROR", Value: caaErrorCell},
}

// FindingColumns are the table and CSV columns of findings.
var FindingColumns = []Column[reconcile.Finding]{
	{Header: "SEVERITY", Value: func(f reconcile.Finding) string {
		if f.Suppressed {
			return string(f.Severity) + " (suppressed)"
		}
		return string(f.Severity)
	}},
	{Header: "CHECK", Value: func(f reconcile.Finding) string { return f.Check }},
	{Header: "SUBJECT", Value: func(f reconcile.Finding) string { return f.Subject }},
	{Header: "ENDPOINT", Value: func(f reconcile.Finding) string { return f.Endpoint }},
	{Header: "MESSAGE", Value: func(f reconcile.Finding) string { return f.Message }},
	{Header: "SPKI SHA-256", Value: func(f reconcile.Finding) string { return f.SPKISHA256 }},
}
