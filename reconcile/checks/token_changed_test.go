package checks

import (
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	cases = append(cases, tokenChangedCases...)
}

func tokenChange(before, after records.Token, fields ...string) reconcile.Snapshot {
	return reconcile.Snapshot{TokenChanges: []reconcile.TokenChange{{Before: before, After: after, Fields: fields,
		Source: "pkcs11:token=hsm1", PrevRun: 3, Run: 5}}}
}

var tokenChangedCases = []tcase{
	{name: "token replaced: same label, another serial", check: "token-changed", want: 1, sev: reconcile.High,
		msg:  `token hsm1 (serial 0001) of pkcs11:token=hsm1 in run 3 is token hsm1 (serial 0002) in run 5: replaced by another device (serial "0001" → "0002")`,
		snap: tokenChange(records.Token{Label: "hsm1", Serial: "0001"}, records.Token{Label: "hsm1", Serial: "0002"}, "serial")},
	{name: "token re-initialised: same serial, another label", check: "token-changed", want: 1, msg: `re-initialised or updated (label "hsm1" → "hsm1-new")`,
		snap: tokenChange(records.Token{Label: "hsm1", Serial: "0001"}, records.Token{Label: "hsm1-new", Serial: "0001"}, "label")},
	{name: "token firmware changed", check: "token-changed", want: 1, msg: `(firmware_version "2.5" → "2.6")`,
		snap: tokenChange(records.Token{Label: "hsm1", Serial: "0001", FirmwareVersion: "2.5"}, records.Token{Label: "hsm1", Serial: "0001", FirmwareVersion: "2.6"}, "firmware_version")},
	{name: "no token change", check: "token-changed", want: 0, snap: snapKeys(key("a", "s1"))},
}
