package checks

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "key-reuse",
		Severity:    reconcile.High,
		Description: "One key is used for unrelated names or for more than one purpose (signing and decryption, TLS and another declared purpose).",
		Help:        "Give each service and each purpose its own key (NIST SP 800-57 Part 1 §5.2: a key is used for one purpose only).",
		Citations:   []string{"NIST SP 800-57 Part 1 Rev. 5 §5.2", "PCI DSS 4.0 3.6.1"},
		Controls:    []string{pciKeyMgmt, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			// Same key on certificates for unrelated domains. Most keys serve
			// one domain: keep that as a string and allocate a set only for
			// keys that turn out to serve several.
			type firstSeen struct{ domain, subject string }
			first := make(map[string]firstSeen, len(s.Observations))
			multi := map[string]map[string]bool{}
			add := func(spki, name, subject string) {
				d := baseDomain(name)
				f, seen := first[spki]
				switch {
				case !seen:
					first[spki] = firstSeen{d, subject}
				case f.domain != d:
					if multi[spki] == nil {
						multi[spki] = map[string]bool{f.domain: true}
					}
					multi[spki][d] = true
				}
			}
			for _, d := range s.DeployedLeaves() {
				if len(d.Cert.SANs) == 0 {
					add(d.Cert.SPKISHA256, cnOf(d.Cert.Subject), d.Cert.Subject)
				}
				for _, n := range d.Cert.SANs {
					add(d.Cert.SPKISHA256, n, d.Cert.Subject)
				}
			}
			for _, sg := range s.Sightings {
				for _, n := range sg.Names {
					add(sg.SPKISHA256, n, sg.Subject)
				}
			}
			spkis := make([]string, 0, len(multi))
			for k := range multi {
				spkis = append(spkis, k)
			}
			sort.Strings(spkis)
			for _, spki := range spkis {
				var ds []string
				for d := range multi[spki] {
					ds = append(ds, d)
				}
				sort.Strings(ds)
				out = append(out, reconcile.Finding{Subject: first[spki].subject, SPKISHA256: spki,
					Message:  fmt.Sprintf("one key serves unrelated domains: %s", strings.Join(ds, ", ")),
					Evidence: map[string]any{"domains": ds}})
			}
			// Inventory keys whose usage mixes purposes.
			for i := range s.Keys {
				k := &s.Keys[i]
				has := func(u string) bool { return slices.Contains(k.Usage, u) }
				var mixed string
				switch {
				case k.Class == records.ClassSecretKey && (has(records.UsageEncrypt) || has(records.UsageDecrypt)) && (has(records.UsageWrap) || has(records.UsageUnwrap)):
					mixed = "both encrypt data and wrap keys"
				case k.Class != records.ClassPrivateKey:
				case strings.EqualFold(k.KeyType, "RSA") && has(records.UsageSign) && (has(records.UsageDecrypt) || has(records.UsageUnwrap)):
					mixed = "both sign and decrypt/unwrap"
				case !strings.EqualFold(k.KeyType, "RSA") && has(records.UsageSign) && has(records.UsageDerive):
					// EC keys cannot decrypt through PKCS#11; signing plus key
					// agreement is their dual use.
					mixed = "both sign and derive (key agreement)"
				}
				if mixed != "" {
					out = append(out, reconcile.Finding{Subject: k.Name(), SPKISHA256: k.SPKISHA256, Source: keySource(k),
						Message:  fmt.Sprintf("%s key %s may %s (usage %s)", k.KeyType, k.Name(), mixed, strings.Join(k.Usage, ", ")),
						Evidence: map[string]any{"usage": k.Usage}})
				}
				if k.Class != records.ClassPrivateKey {
					continue
				}
				// A key declared for another purpose, served for TLS.
				if p := strings.ToLower(k.Purpose); p != "" && !strings.Contains(p, "tls") && k.SPKISHA256 != "" && servedOnTLS(s, k.SPKISHA256) {
					out = append(out, reconcile.Finding{Subject: k.Name(), SPKISHA256: k.SPKISHA256, Source: keySource(k),
						Message:  fmt.Sprintf("key %s is declared for %q but is served on a TLS endpoint", k.Name(), k.Purpose),
						Evidence: map[string]any{"purpose": k.Purpose}})
				}
			}
			return out
		},
	})
}

func servedOnTLS(s *reconcile.Snapshot, spki string) bool {
	for _, o := range s.Observations {
		if l := o.Leaf(); l != nil && l.SPKISHA256 == spki {
			return true
		}
	}
	return false
}

// baseDomain approximates the registrable domain: the last two labels
// (three under a two-letter second-level such as co.uk). Wildcards count
// as their base name.
func baseDomain(name string) string {
	name = strings.TrimPrefix(strings.ToLower(strings.TrimSuffix(name, ".")), "*.")
	if net.ParseIP(name) != nil || strings.Contains(name, "@") || strings.Contains(name, "://") {
		return name
	}
	// The last two labels, or three under a two-letter TLD with a short
	// second level (co.uk); found from the end without splitting.
	last := strings.LastIndexByte(name, '.')
	if last < 0 {
		return name
	}
	second := strings.LastIndexByte(name[:last], '.')
	if second < 0 {
		return name
	}
	if len(name)-last-1 == 2 && last-second-1 <= 3 {
		if third := strings.LastIndexByte(name[:second], '.'); third >= 0 {
			return name[third+1:]
		}
		return name
	}
	return name[second+1:]
}
