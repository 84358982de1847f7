package checks

import (
	"fmt"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "unauthorized-issuance",
		Severity:    reconcile.Critical,
		Description: "Certificate Transparency shows a certificate for a watched name whose key is in no inventory, or whose issuer the policy or the name's CAA does not allow.",
		Help:        "Confirm with the requester; if nobody asked for it, revoke it (keyaudit revoke) and tell the CA through the CAA iodef contact.",
		Citations:   []string{"RFC 6962 §1 (monitors)", "RFC 8659 §4 (CAA)", "CA/B Forum BR 3.2.2.8"},
		Controls:    []string{pciKeyMgmt, pciStrongCrypto, gdprSecurity},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, sg := range s.Sightings {
				var reasons []string
				ev := map[string]any{"log": sg.Log, "index": sg.Index, "issuer": sg.Issuer, "names": sg.Names, "precert": sg.Precert, "logged_at": sg.Timestamp}
				watched := false
				for _, n := range sg.Names {
					watched = watched || s.Watches(n)
				}
				if !watched && len(s.Watched) > 0 {
					continue
				}
				if !s.Managed(sg.SPKISHA256) {
					reasons = append(reasons, "its key is in no inventory source")
				}
				if ok, why := policyAllowsIssuer(s, sg.Issuer); !ok {
					reasons = append(reasons, why)
				}
				if v, forbidden := caaForbids(s, sg.Issuer, sg.Names); forbidden {
					reasons = append(reasons, v.describe(sg.Issuer))
					for k, x := range v.evidence() {
						ev[k] = x
					}
				}
				if len(reasons) == 0 {
					continue
				}
				kind := "certificate"
				if sg.Precert {
					kind = "precertificate"
				}
				out = append(out, reconcile.Finding{
					Subject: strings.Join(sg.Names, ", "), SPKISHA256: sg.SPKISHA256, CertSHA256: sg.CertSHA256,
					Endpoint: ctEndpoint(sg.Log, sg.Index),
					Message:  fmt.Sprintf("%s logged in %s at index %d: %s", kind, sg.Log, sg.Index, strings.Join(reasons, "; ")),
					Evidence: ev,
					Source:   fmt.Sprintf("%s#%d", sg.Log, sg.Index),
				})
			}
			return out
		},
	})
}
