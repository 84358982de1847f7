package checks

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "key-extractable",
		Severity:    reconcile.High,
		Description: "A private or secret key in an HSM/KMS is extractable or not marked sensitive, so its value can leave the device.",
		Help:        "Regenerate the key inside the HSM with CKA_SENSITIVE=true and CKA_EXTRACTABLE=false (wrap-only export if backup is needed).",
		Citations:   []string{"NIST SP 800-57 Part 1 Rev. 5 §6.2.2", "PCI DSS 4.0 3.5.1", "PKCS #11 v3.0 §4.9 (CKA_SENSITIVE, CKA_EXTRACTABLE)"},
		Controls:    []string{pciKeyMgmt, pciKeyLifecycle, nistKeyMgmt, hipaaAccess},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Keys {
				k := &s.Keys[i]
				if k.Class != records.ClassPrivateKey && k.Class != records.ClassSecretKey {
					continue
				}
				var why []string
				if k.Extractable != nil && *k.Extractable {
					why = append(why, "extractable")
				}
				if k.Sensitive != nil && !*k.Sensitive {
					why = append(why, "not sensitive")
				}
				if len(why) == 0 {
					continue
				}
				out = append(out, reconcile.Finding{Subject: k.Name(), SPKISHA256: k.SPKISHA256, Source: keySource(k),
					Message:  fmt.Sprintf("%s %s is %s", k.Class, k.Name(), strings.Join(why, " and ")),
					Evidence: map[string]any{"token": k.Token, "id": k.ID, "extractable": k.Extractable, "sensitive": k.Sensitive}})
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "cryptoperiod-exceeded",
		Severity:    reconcile.Medium,
		Description: "A key is older than its cryptoperiod (from CKA_START_DATE or the key's metadata; NIST SP 800-57 Part 1 Table 1 defaults by use).",
		Help:        "Rotate the key: generate a new one, re-issue its certificates, then deactivate the old key.",
		Citations:   []string{"NIST SP 800-57 Part 1 Rev. 5 §5.3.6 Table 1", "PCI DSS 4.0 3.6.4 / 3.7.4 (cryptoperiods)"},
		Controls:    []string{pciKeyLifecycle, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Keys {
				k := &s.Keys[i]
				if k.Class == records.ClassCertificate || k.Class == records.ClassPublicKey && hasPrivate(s, k.SPKISHA256) {
					continue
				}
				period, basis := cryptoperiod(s, k)
				var start time.Time
				switch {
				case k.StartDate != nil:
					start = *k.StartDate
				default:
					continue // no creation date: nothing to measure from
				}
				if period <= 0 || s.Now.Sub(start) <= period {
					if k.EndDate != nil && s.Now.After(*k.EndDate) {
						out = append(out, reconcile.Finding{Subject: k.Name(), SPKISHA256: k.SPKISHA256, Source: keySource(k),
							Message: fmt.Sprintf("key %s is past its CKA_END_DATE %s", k.Name(), k.EndDate.Format(time.DateOnly))})
					}
					continue
				}
				out = append(out, reconcile.Finding{Subject: k.Name(), SPKISHA256: k.SPKISHA256, Source: keySource(k),
					Message:  fmt.Sprintf("key %s is %d days old, past its %d-day cryptoperiod (%s)", k.Name(), days(s.Now.Sub(start)), days(period), basis),
					Evidence: map[string]any{"start_date": start, "cryptoperiod_days": days(period), "basis": basis}})
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "key-id-mismatch",
		Severity:    reconcile.Low,
		Description: "Objects of one key pair (private, public, certificate) carry different CKA_IDs, which breaks applications that pair them by ID.",
		Help:        "Set the same CKA_ID on the key pair's objects.",
		Citations:   []string{"PKCS #11 v3.0 §4.4 (CKA_ID)"},
		Controls:    []string{pciKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Keys {
				k := &s.Keys[i]
				if !k.IDMismatch {
					continue
				}
				var ids []string
				for _, p := range k.PairedWith {
					ids = append(ids, string(p.Class)+"="+p.ID)
				}
				out = append(out, reconcile.Finding{Subject: k.Name(), SPKISHA256: k.SPKISHA256, Source: keySource(k),
					Message: fmt.Sprintf("%s %s (id %s) pairs with objects of other IDs: %s", k.Class, k.Name(), k.ID, strings.Join(ids, ", "))})
			}
			return out
		},
	})
}

// cryptoperiod returns the key's maximum lifetime and where it comes from.
func cryptoperiod(s *reconcile.Snapshot, k *records.Key) (time.Duration, string) {
	if k.Cryptoperiod != "" {
		if d, err := parsePeriod(k.Cryptoperiod); err == nil {
			return d, "inventory metadata " + k.Cryptoperiod
		}
	}
	cp := s.Policy.Cryptoperiods
	switch {
	case k.Class == records.ClassSecretKey && (hasUsage(k, records.UsageWrap) || hasUsage(k, records.UsageUnwrap)):
		return cp.KeyWrapping, "NIST SP 800-57 symmetric key-wrapping key"
	case k.Class == records.ClassSecretKey:
		return cp.Symmetric, "NIST SP 800-57 symmetric data-encryption key"
	case hasUsage(k, records.UsageDecrypt) && !hasUsage(k, records.UsageSign):
		return cp.KeyTransport, "NIST SP 800-57 private key-transport key"
	}
	return cp.Signature, "NIST SP 800-57 private signature key"
}

func hasUsage(k *records.Key, u string) bool {
	for _, x := range k.Usage {
		if x == u {
			return true
		}
	}
	return false
}

// parsePeriod accepts Go durations and day/year counts: "730d", "2y".
func parsePeriod(v string) (time.Duration, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	for suffix, unit := range map[string]time.Duration{"d": reconcile.Day, "y": 365 * reconcile.Day} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(f * float64(unit)), nil
		}
	}
	return time.ParseDuration(v)
}
