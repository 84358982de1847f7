package checks

import "github.com/keyaudit/keyaudit/reconcile"

func init() {
	cases = append(cases, tokenChangedCases...)
}

func tokenChange(bl, bs, al, as string) reconcile.Snapshot {
	return reconcile.Snapshot{TokenChanges: []reconcile.TokenChange{{Before: reconcile.TokenInfo{Label: bl, Serial: bs},
		After: reconcile.TokenInfo{Label: al, Serial: as}, Source: "pkcs11:token=hsm1", PrevRun: 3, Run: 5}}}
}

var tokenChangedCases = []tcase{
	{name: "token replaced: same label, another serial", check: "token-changed", want: 1, sev: reconcile.High,
		msg:  "token hsm1 (serial 0001) of pkcs11:token=hsm1 in run 3 is token hsm1 (serial 0002) in run 5: replaced",
		snap: tokenChange("hsm1", "0001", "hsm1", "0002")},
	{name: "token re-initialised: same serial, another label", check: "token-changed", want: 1, msg: "re-initialised",
		snap: tokenChange("hsm1", "0001", "hsm1-new", "0001")},
	{name: "no token change", check: "token-changed", want: 0, snap: snapKeys(key("a", "s1"))},
}
