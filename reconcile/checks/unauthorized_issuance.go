package checks

import (
	"fmt"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
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
				msg := fmt.Sprintf("%s logged in %s at index %d: %s", kind, sg.Log, sg.Index, strings.Join(reasons, "; "))
				msg += ctRevocation(s, sg.CertSHA256, ev)
				out = append(out, reconcile.Finding{
					Subject: strings.Join(sg.Names, ", "), SPKISHA256: sg.SPKISHA256, CertSHA256: sg.CertSHA256,
					Endpoint: ctEndpoint(sg.Log, sg.Index),
					Message:  msg,
					Evidence: ev,
					Source:   fmt.Sprintf("%s#%d", sg.Log, sg.Index),
				})
			}
			return out
		},
	})
}

// ctRevocation is what is known of a CT certificate's revocation, for the
// message (its tail) and the evidence: revoked (when, why, who said so),
// or what the validity stage's sources said when none proved it revoked.
func ctRevocation(s *reconcile.Snapshot, sha string, ev map[string]any) string {
	if r, ok := s.Revoked(sha); ok {
		ev["revoked"] = map[string]any{"revoked_at": r.RevokedAt, "reason": r.Reason, "source": r.Source}
		return fmt.Sprintf("; revoked on %s (%s, via %s)", r.RevokedAt.UTC().Format(time.RFC3339), r.Reason, r.Source)
	}
	v, ok := s.CTValidityOf(sha)
	if !ok || v.Error != "" || len(v.Revocation) == 0 {
		return ""
	}
	ev["revocation"] = v.Revocation
	var unknown []string
	for _, r := range v.Revocation {
		if r.Status == records.RevGood {
			return "" // not revoked, as far as its CA says
		}
		where := r.Source
		if r.URL != "" {
			where += " " + r.URL
		}
		unknown = append(unknown, where+": "+r.Problem)
	}
	return "; revocation status unknown (" + strings.Join(unknown, "; ") + ")"
}
