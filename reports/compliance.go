package reports

import (
	"slices"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

// Framework is a compliance framework and the controls of it that
// keyaudit's checks map findings to.
type Framework struct {
	Name     string
	Controls []Control
}

// Control is one requirement. ID is the string checks put in
// Finding.Controls.
type Control struct {
	ID    string
	Title string
	// Short heads the control's column in the compliance matrix.
	Short string
	// Requirement paraphrases what the control asks, so a reviewer sees
	// why a finding maps to it.
	Requirement string
}

// Frameworks lists the controls the HTML report's compliance section
// covers, in the order it shows them.
var Frameworks = []Framework{
	{Name: "PCI DSS 4.0", Controls: []Control{
		{ID: "PCI DSS 4.0 3.6", Short: "3.6", Title: "Requirement 3.6 — cryptographic keys used to protect stored account data are secured",
			Requirement: "Key-management procedures restrict access to keys to the fewest custodians, store keys securely (e.g. in an HSM), and keep an inventory of keys and their use (3.6.1)."},
		{ID: "PCI DSS 4.0 3.7", Short: "3.7", Title: "Requirement 3.7 — key-management processes cover the whole key lifecycle",
			Requirement: "Generation of strong keys, secure distribution and storage, key changes at the end of a defined cryptoperiod (3.7.4), retirement or replacement of weakened or compromised keys (3.7.5, 3.7.6)."},
		{ID: "PCI DSS 4.0 4.2.1", Short: "4.2.1", Title: "Requirement 4.2.1 — strong cryptography protects data in transit over open networks",
			Requirement: "Only trusted keys and certificates are accepted; certificates are confirmed valid and not expired or revoked; protocols and ciphers are secure."},
	}},
	{Name: "NIST SP 800-57", Controls: []Control{
		{ID: "NIST SP 800-57", Short: "800-57", Title: "Recommendation for Key Management (Part 1 Rev. 5, Part 2 Rev. 1)",
			Requirement: "Keys have adequate strength (Table 2), a defined cryptoperiod (§5.3), one purpose each (§5.2), protection in storage (§6.2), and are tracked through their states: pre-activation, active, suspended, deactivated, compromised, destroyed (§7)."},
	}},
	{Name: "HIPAA Security Rule §164.312", Controls: []Control{
		{ID: "HIPAA 164.312(a)(2)(iv)", Short: "(a)(2)(iv)", Title: "§164.312(a)(2)(iv) — encryption and decryption (addressable)",
			Requirement: "Implement a mechanism to encrypt and decrypt electronic protected health information; its keys must be protected accordingly."},
		{ID: "HIPAA 164.312(e)(1)", Short: "(e)(1)", Title: "§164.312(e)(1) — transmission security",
			Requirement: "Guard against unauthorised access to ePHI transmitted over a network: integrity controls and encryption (§164.312(e)(2)) with valid certificates and current protocols."},
	}},
	{Name: "GDPR", Controls: []Control{
		{ID: "GDPR Art. 32", Short: "Art. 32", Title: "Article 32 — security of processing",
			Requirement: "Appropriate technical measures, including encryption of personal data (32(1)(a)) and a process for regularly testing and evaluating their effectiveness (32(1)(d)); this audit is such a test."},
	}},
}

// controlGroup is a control with the findings mapped to it.
type controlGroup struct {
	Control
	Findings   []reconcile.Finding
	Open       int // unsuppressed
	Suppressed int
}

type frameworkGroup struct {
	Name     string
	Controls []controlGroup
	Open     int
}

// compliance maps findings to the framework controls; controls named by
// findings but not in Frameworks are grouped under "Other controls".
func compliance(fs []reconcile.Finding) []frameworkGroup {
	known := map[string]bool{}
	var out []frameworkGroup
	for _, fw := range Frameworks {
		g := frameworkGroup{Name: fw.Name}
		for _, c := range fw.Controls {
			known[c.ID] = true
			cg := controlGroup{Control: c}
			for _, f := range fs {
				if slices.Contains(f.Controls, c.ID) {
					cg.Findings = append(cg.Findings, f)
					if f.Suppressed {
						cg.Suppressed++
					} else {
						cg.Open++
					}
				}
			}
			g.Open += cg.Open
			g.Controls = append(g.Controls, cg)
		}
		out = append(out, g)
	}
	other := map[string]*controlGroup{}
	var ids []string
	for _, f := range fs {
		for _, c := range f.Controls {
			if known[c] {
				continue
			}
			cg, ok := other[c]
			if !ok {
				cg = &controlGroup{Control: Control{ID: c, Title: c, Short: c}}
				other[c] = cg
				ids = append(ids, c)
			}
			cg.Findings = append(cg.Findings, f)
			if f.Suppressed {
				cg.Suppressed++
			} else {
				cg.Open++
			}
		}
	}
	if len(ids) > 0 {
		slices.Sort(ids)
		g := frameworkGroup{Name: "Other controls"}
		for _, id := range ids {
			g.Controls = append(g.Controls, *other[id])
			g.Open += other[id].Open
		}
		out = append(out, g)
	}
	return out
}

// controlShort is the label of a control in charts: "PCI 3.6", "HIPAA
// 164.312(e)(1)".
func controlShort(id string) string {
	id = strings.Replace(id, "PCI DSS 4.0 ", "PCI DSS ", 1)
	return id
}
