package checks

import (
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	cases = append(cases, appearedCases...)
}

func appeared(keys ...records.Key) reconcile.Snapshot {
	s := reconcile.Snapshot{Keys: keys}
	for _, k := range keys {
		s.Appeared = append(s.Appeared, reconcile.AppearedKey{Key: k, Source: "pkcs11:token=hsm1", PrevRun: 3, Run: 5})
	}
	return s
}

var appearedCases = []tcase{
	{name: "key appeared, no metadata rule matches", check: "key-appeared", want: 1, sev: reconcile.Medium,
		msg:  "listed by pkcs11:token=hsm1 in run 5 and was not in its complete read of run 3; no metadata rule",
		snap: appeared(key("stray", "s1"))},
	{name: "key appeared, described by a metadata rule", check: "key-appeared", want: 1, sev: reconcile.Info, msg: "in run 5",
		snap: appeared(key("web-2026", "s1", func(k *records.Key) { k.Owner, k.Purpose = "web", "tls" }))},
	{name: "no key appeared", check: "key-appeared", want: 0, snap: snapKeys(key("a", "s1"))},
}
