package checks

import (
	"fmt"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
)

// Compliance controls findings map to.
const (
	pciKeyMgmt      = "PCI DSS 4.0 3.6"   // key management procedures
	pciKeyLifecycle = "PCI DSS 4.0 3.7"   // key lifecycle: generation, distribution, storage, cryptoperiod, retirement
	pciStrongCrypto = "PCI DSS 4.0 4.2.1" // strong cryptography for transmission, certificates valid and not expired
	nistKeyMgmt     = "NIST SP 800-57"
	hipaaTransmit   = "HIPAA 164.312(e)(1)"
	hipaaAccess     = "HIPAA 164.312(a)(2)(iv)"
	gdprSecurity    = "GDPR Art. 32"
)

func days(d time.Duration) int { return int(d.Hours() / 24) }

func leafNames(c certinfo.Cert) []string {
	names := certinfo.Names(c, cnOf(c.Subject))
	return names
}

// cnOf extracts the CN of an RFC 4514 subject string.
func cnOf(dn string) string {
	for _, part := range strings.Split(dn, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "CN="); ok {
			return v
		}
	}
	return ""
}

// caaVerdict is what the names' CAA says of an issuer.
type caaVerdict struct {
	forbidden bool
	name      string // the name whose CAA forbids
	permitted []string
	issuerCA  string
	iodef     []string
	relevant  string
}

// caaForbids checks issuerDN against the CAA of every name that has a
// lookup in the snapshot. Names without a lookup, and failed lookups,
// decide nothing here (lookup failures are their own finding).
func caaForbids(s *reconcile.Snapshot, issuerDN string, names []string) (caaVerdict, bool) {
	if len(s.CAA) == 0 {
		return caaVerdict{}, false // no lookups: nothing to decide with
	}
	var ca reconcile.CA
	known, looked := false, false
	for _, n := range names {
		r, ok := s.CAAFor(n)
		if !ok || r.Error != nil {
			continue
		}
		p := r.Permits
		if strings.HasPrefix(n, "*.") && r.PermitsWildcard != nil {
			p = r.PermitsWildcard
		}
		if p == nil || p.Any {
			continue
		}
		if !looked { // parse the issuer only when a CAA record restricts
			ca, known = s.CATable().ForIssuerDN(issuerDN)
			looked = true
		}
		allowed := false
		if known {
			for _, id := range ca.Identifiers {
				for _, permitted := range p.CAs {
					if strings.EqualFold(id, permitted) {
						allowed = true
					}
				}
			}
		}
		if !allowed {
			v := caaVerdict{forbidden: true, name: n, permitted: p.CAs, iodef: r.Iodef, relevant: r.RelevantName}
			if known {
				v.issuerCA = ca.Name
			}
			return v, true
		}
	}
	return caaVerdict{}, false
}

func (v caaVerdict) describe(issuer string) string {
	who := issuer
	if v.issuerCA != "" {
		who = fmt.Sprintf("%s (%s)", v.issuerCA, issuer)
	}
	permitted := "no CA"
	if len(v.permitted) > 0 {
		permitted = strings.Join(v.permitted, ", ")
	}
	return fmt.Sprintf("issued by %s, which CAA at %s does not allow (it permits %s)", who, v.relevant, permitted)
}

func (v caaVerdict) evidence() map[string]any {
	return map[string]any{"caa_name": v.name, "caa_relevant_name": v.relevant, "caa_permits": v.permitted, "iodef": v.iodef}
}

// policyAllowsIssuer reports whether the organisation's policy allows the
// issuer (true when the policy names no CAs).
func policyAllowsIssuer(s *reconcile.Snapshot, issuerDN string) (bool, string) {
	if len(s.Policy.AllowedCAs) == 0 {
		return true, ""
	}
	ca, ok := s.CATable().ForIssuerDN(issuerDN)
	if !ok {
		return false, "issuer not recognised as any CA in the CA table"
	}
	for _, id := range ca.Identifiers {
		for _, a := range s.Policy.AllowedCAs {
			if strings.EqualFold(id, a) {
				return true, ""
			}
		}
	}
	return false, fmt.Sprintf("%s is not among the policy's allowed CAs (%s)", ca.Name, strings.Join(s.Policy.AllowedCAs, ", "))
}

// allowedCA reports whether a CAA identifier is allowed by policy.
func allowedCA(s *reconcile.Snapshot, id string) bool {
	if len(s.Policy.AllowedCAs) == 0 {
		return true
	}
	for _, a := range s.Policy.AllowedCAs {
		if strings.EqualFold(a, id) {
			return true
		}
	}
	return false
}

// ctLogEndpoint names a CT log: "ct:<log URL without scheme>".
func ctLogEndpoint(log string) string {
	if i := strings.Index(log, "://"); i >= 0 {
		log = log[i+3:]
	}
	return "ct:" + strings.TrimSuffix(log, "/")
}

// ctEndpoint names a CT log entry: "ct:<log>#<index>".
func ctEndpoint(log string, index uint64) string {
	return fmt.Sprintf("%s#%d", ctLogEndpoint(log), index)
}
