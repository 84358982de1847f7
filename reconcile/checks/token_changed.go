package checks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "token-changed",
		Severity: reconcile.High,
		Description: "A PKCS#11 token of an inventory source changed between two complete reads: its label is now carried by another " +
			"serial number (the device was replaced), or its serial number now has another label, model or firmware/hardware version " +
			"(the token was re-initialised or its firmware changed).",
		Help: "Confirm the replacement, re-initialisation or firmware update was approved, that the device is still validated " +
			"(FIPS 140-3 certificate of that firmware) and that the keys on it were generated or imported under dual control; " +
			"an unexplained change may be a substituted device. Keys of a replaced token are reported as disappeared, those of the new one as appeared.",
		Citations: []string{"NIST SP 800-57 Part 2 Rev. 1 §6.3 (key inventory)", "PCI DSS 4.0 3.6.1 (procedures to protect cryptographic keys)",
			"NIST SP 800-57 Part 1 Rev. 5 §6.1 (protection requirements for cryptographic information)"},
		Controls: []string{pciKeyMgmt, nistKeyMgmt},
		Sticky:   true,
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.TokenChanges {
				c := &s.TokenChanges[i]
				b, a := &c.Before, &c.After
				what := "re-initialised or updated"
				if slices.Contains(c.Fields, "serial") {
					what = "replaced by another device"
				}
				var diffs []string
				for _, f := range c.Fields {
					diffs = append(diffs, fmt.Sprintf("%s %q → %q", f, tokenField(b, f), tokenField(a, f)))
				}
				out = append(out, reconcile.Finding{Severity: reconcile.High, Subject: "token " + b.Label,
					Message: fmt.Sprintf("token %s (serial %s) of %s in run %d is token %s (serial %s) in run %d: %s (%s)",
						b.Label, b.Serial, c.Source, c.PrevRun, a.Label, a.Serial, c.Run, what, strings.Join(diffs, ", ")),
					Evidence: map[string]any{"source": c.Source, "previous_run": c.PrevRun, "run": c.Run, "changed": c.Fields,
						"before": *b, "after": *a}})
			}
			return out
		},
	})
}

func tokenField(t *records.Token, name string) string {
	switch name {
	case "label":
		return t.Label
	case "serial":
		return t.Serial
	case "manufacturer":
		return t.Manufacturer
	case "model":
		return t.Model
	case "firmware_version":
		return t.FirmwareVersion
	case "hardware_version":
		return t.HardwareVersion
	}
	return ""
}
