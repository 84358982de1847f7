package revoke

import (
	"fmt"
	"strconv"
	"strings"
)

// Reason is a CRL reason code (RFC 5280 §5.3.1).
type Reason struct {
	Name string `json:"name"`
	Code int    `json:"code"`
}

type reasonInfo struct {
	Reason
	// refused says why keyaudit does not request this reason for an
	// end-entity certificate; empty when allowed.
	refused string
}

// reasonTable is RFC 5280 §5.3.1's CRLReason. Allowed are those the
// CA/Browser Forum Baseline Requirements §7.2.2 permit in a subscriber
// certificate's CRL entry (keyCompromise, affiliationChanged, superseded,
// cessationOfOperation, privilegeWithdrawn — and unspecified, expressed by
// omitting the reasonCode), as also listed by the Mozilla Root Store
// Policy §6.1.1. Some CAs accept fewer from subscribers (Let's Encrypt:
// unspecified, keyCompromise, superseded, cessationOfOperation); the CA's
// refusal is then recorded as a failure.
var reasonTable = []reasonInfo{
	{Reason{"unspecified", 0}, ""},
	{Reason{"keyCompromise", 1}, ""},
	{Reason{"cACompromise", 2}, "cACompromise is for CA certificates (RFC 5280 §5.3.1); keyaudit revokes end-entity certificates"},
	{Reason{"affiliationChanged", 3}, ""},
	{Reason{"superseded", 4}, ""},
	{Reason{"cessationOfOperation", 5}, ""},
	{Reason{"certificateHold", 6}, "certificateHold (suspension) is forbidden by the CA/B Forum Baseline Requirements §4.9.13 and §7.2.2"},
	{Reason{"removeFromCRL", 8}, "removeFromCRL only appears in delta CRLs (RFC 5280 §5.3.1)"},
	{Reason{"privilegeWithdrawn", 9}, ""},
	{Reason{"aACompromise", 10}, "aACompromise is for attribute certificates (RFC 5280 §5.3.1)"},
}

// Reasons lists the reasons keyaudit requests, in code order.
func Reasons() []Reason {
	var out []Reason
	for _, r := range reasonTable {
		if r.refused == "" {
			out = append(out, r.Reason)
		}
	}
	return out
}

// ReasonNames lists the allowed reason names, for help texts.
func ReasonNames() string {
	var names []string
	for _, r := range Reasons() {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ")
}

// ParseReason accepts an RFC 5280 reason name (case-insensitive) or its
// numeric code, and refuses codes not allowed for end-entity certificates.
func ParseReason(s string) (Reason, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Reason{}, fmt.Errorf("no revocation reason given (want one of %s)", ReasonNames())
	}
	code, numErr := strconv.Atoi(s)
	for _, r := range reasonTable {
		if (numErr == nil && r.Code == code) || strings.EqualFold(r.Name, s) {
			if r.refused != "" {
				return Reason{}, fmt.Errorf("revocation reason %s (%d) refused: %s", r.Name, r.Code, r.refused)
			}
			return r.Reason, nil
		}
	}
	return Reason{}, fmt.Errorf("unknown revocation reason %q (want one of %s)", s, ReasonNames())
}

// valid reports whether r is an allowed reason with matching name and code.
func (r Reason) valid() error {
	got, err := ParseReason(r.Name)
	if err != nil {
		return err
	}
	if got.Code != r.Code {
		return fmt.Errorf("reason %s has code %d, not %d", r.Name, got.Code, r.Code)
	}
	return nil
}

func (r Reason) String() string { return fmt.Sprintf("%s (%d)", r.Name, r.Code) }
