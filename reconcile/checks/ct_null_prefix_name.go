package checks

import (
	"fmt"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "ct-null-prefix-name",
		Severity: reconcile.Critical,
		Description: "Certificate Transparency shows a certificate whose SAN or CN holds a NUL byte after a watched name " +
			"(\"www.example.com\\x00.evil.test\"): a client that stops reading at the NUL takes it for the watched name.",
		Help: "No DNS name holds a NUL: a CA that issued this failed to validate the name. Revoke it (keyaudit revoke), " +
			"report it to the CA, and check that clients reject such names.",
		Citations: []string{"RFC 5280 §4.2.1.6 (dNSName in preferred name syntax)", "CA/B Forum BR 7.1.4.2.1 (SAN entries)", "CVE-2009-2408 (null-prefix certificates)"},
		Controls:  []string{pciKeyMgmt, pciStrongCrypto},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, sg := range s.Sightings {
				for _, n := range sg.NULNames {
					read, _, _ := strings.Cut(n, "\x00")
					kind := "certificate"
					if sg.Precert {
						kind = "precertificate"
					}
					out = append(out, reconcile.Finding{
						Subject: fmt.Sprintf("%q", n), SPKISHA256: sg.SPKISHA256, CertSHA256: sg.CertSHA256,
						Endpoint: ctEndpoint(sg.Log, sg.Index),
						Message: fmt.Sprintf("%s logged in %s at index %d names %q, which a client stopping at the NUL reads as %s",
							kind, sg.Log, sg.Index, n, read),
						Evidence: map[string]any{"log": sg.Log, "index": sg.Index, "issuer": sg.Issuer, "name": n, "read_as": read,
							"matched": sg.Matched, "precert": sg.Precert, "logged_at": sg.Timestamp},
						Source: fmt.Sprintf("%s#%d", sg.Log, sg.Index),
					})
				}
			}
			return out
		},
	})
}
