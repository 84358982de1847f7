package checks

import (
	"fmt"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "caa-missing",
		Severity:    reconcile.Low,
		Description: "A watched name has no CAA record set: any CA may issue for it.",
		Help:        "Publish CAA records naming the CAs you use (RFC 8659), with an iodef contact.",
		Citations:   []string{"RFC 8659 §4", "CA/B Forum BR 3.2.2.8"},
		Controls:    []string{pciKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, r := range s.CAA {
				if r.CA != "" || r.Error != nil || !s.Watches(r.Name) || r.RelevantName != "" {
					continue
				}
				out = append(out, reconcile.Finding{Subject: r.Name, Message: fmt.Sprintf("%s has no relevant CAA record set: every CA may issue for it", r.Name)})
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "caa-permits-unapproved-ca",
		Severity:    reconcile.Medium,
		Description: "A name's CAA permits a CA that the organisation's policy does not use.",
		Help:        "Remove the CA from the CAA records, or add it to policy.allowed-cas if it is in use.",
		Citations:   []string{"RFC 8659 §4.2", "NIST SP 800-57 Part 2 Rev. 1 §6.4"},
		Controls:    []string{pciKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			if len(s.Policy.AllowedCAs) == 0 {
				return nil
			}
			var out []reconcile.Finding
			for _, r := range s.CAA {
				if r.CA != "" || r.Error != nil {
					continue
				}
				var extra []string
				seen := map[string]bool{}
				if r.Permits != nil {
					for _, ca := range r.Permits.CAs {
						if !allowedCA(s, ca) && !seen[ca] {
							seen[ca] = true
							extra = append(extra, ca)
						}
					}
				}
				if r.PermitsWildcard != nil {
					for _, ca := range r.PermitsWildcard.CAs {
						if !allowedCA(s, ca) && !seen[ca] {
							seen[ca] = true
							extra = append(extra, ca+" (wildcard)")
						}
					}
				}
				if len(extra) == 0 {
					continue
				}
				out = append(out, reconcile.Finding{Subject: r.Name,
					Message:  fmt.Sprintf("CAA for %s (at %s) permits %s, not in the policy's allowed CAs", r.Name, r.RelevantName, strings.Join(extra, ", ")),
					Evidence: map[string]any{"relevant_name": r.RelevantName, "records": r.Records, "allowed_cas": s.Policy.AllowedCAs}})
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "caa-forbids-issuer",
		Severity:    reconcile.High,
		Description: "A deployed or CT-logged certificate was issued by a CA that the name's CAA does not allow.",
		Help:        "Report it to the CA (mis-issuance, CA/B Forum BR 3.2.2.8) through the iodef contact, revoke it, and replace it with a certificate from a permitted CA.",
		Citations:   []string{"RFC 8659 §4", "CA/B Forum BR 3.2.2.8"},
		Controls:    []string{pciStrongCrypto, pciKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			if len(s.CAA) == 0 {
				return nil // no CAA looked up: nothing to judge against
			}
			var out []reconcile.Finding
			for _, d := range s.DeployedLeaves() {
				if d.Cert.SelfSigned {
					continue
				}
				if v, forbidden := caaForbids(s, d.Cert.Issuer, leafNames(*d.Cert)); forbidden {
					for _, ep := range d.Endpoints {
						out = append(out, reconcile.Finding{Subject: d.Cert.Subject, SPKISHA256: d.Cert.SPKISHA256, CertSHA256: d.Cert.SHA256,
							Endpoint: ep, Message: "deployed certificate " + v.describe(d.Cert.Issuer), Evidence: v.evidence()})
					}
				}
			}
			for _, sg := range s.Sightings {
				if v, forbidden := caaForbids(s, sg.Issuer, sg.Names); forbidden {
					out = append(out, reconcile.Finding{Subject: strings.Join(sg.Names, ", "), SPKISHA256: sg.SPKISHA256, CertSHA256: sg.CertSHA256,
						Endpoint: ctEndpoint(sg.Log, sg.Index), Message: "CT-logged certificate " + v.describe(sg.Issuer), Evidence: v.evidence()})
				}
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "caa-lookup-failed",
		Severity:    reconcile.Medium,
		Description: "The CAA lookup for a name failed (SERVFAIL, timeout, refused, malformed answer), so no issuance decision could be made for it.",
		Help:        "Fix the name's DNS: a CA must refuse to issue when CAA cannot be checked (RFC 8659 §4), and keyaudit cannot judge its certificates.",
		Citations:   []string{"RFC 8659 §4", "CA/B Forum BR 3.2.2.8"},
		Controls:    []string{pciKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, r := range s.CAA {
				if r.Error == nil || r.CA != "" {
					continue
				}
				out = append(out, reconcile.Finding{Subject: r.Name, Message: fmt.Sprintf("CAA lookup for %s failed: %s: %s", r.Name, r.Error.Kind, r.Error.Message)})
			}
			return out
		},
	})
}
