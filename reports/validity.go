package reports

import (
	"net"
	"strings"

	"github.com/keyaudit/keyaudit/store/records"
)

// ValidityColumns are the table and CSV columns of keyaudit validity.
var ValidityColumns = []Column[records.Validity]{
	{Header: "ENDPOINT", Value: func(v records.Validity) string {
		ep := v.Protocol + "://" + v.Target
		host, _, err := net.SplitHostPort(v.Target)
		if err != nil {
			host = v.Target
		}
		if v.IP != "" && host != v.IP {
			ep += " (" + v.IP + ")"
		}
		return ep
	}},
	{Header: "NAME", Value: func(v records.Validity) string { return v.Name }},
	{Header: "CHAIN", Value: func(v records.Validity) string {
		s := v.Chain.Status
		if len(v.Chain.ExpiredIntermediates) > 0 {
			s += ", expired intermediate"
		}
		if v.CT != nil { // a CT certificate: revocation only
			s = "-"
		}
		if v.Error != "" {
			s = "error: " + v.Error
		}
		return s
	}},
	{Header: "HOSTNAME", Value: func(v records.Validity) string {
		if v.CT != nil {
			return "-"
		}
		if v.HostnameOK {
			return "ok"
		}
		return "mismatch"
	}},
	{Header: "REVOCATION", Value: func(v records.Validity) string {
		var parts []string
		for _, r := range v.Revocation {
			p := r.Source + ": " + r.Status
			if r.Reason != "" {
				p += " (" + r.Reason + ")"
			}
			if r.Cached {
				p += " cached"
			}
			parts = append(parts, p)
		}
		if v.MustStaple && !v.Stapled {
			parts = append(parts, "must-staple, not stapled")
		}
		return strings.Join(parts, "; ")
	}},
}
