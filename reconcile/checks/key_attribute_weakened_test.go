package checks

import (
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	cases = append(cases, weakenedCases...)
}

// changed is a snapshot in which key a (as key() builds it) became what
// mod makes of it between runs 3 and 5.
func changed(before func(*records.Key), mod func(*records.Key)) reconcile.Snapshot {
	b, a := key("a", "s1", before), key("a", "s1", mod)
	return reconcile.Snapshot{Keys: []records.Key{a}, Changed: []reconcile.KeyChange{{Before: b, After: a, Source: "pkcs11:token=hsm1", PrevRun: 3, Run: 5}}}
}

func same(*records.Key) {}

func kmip(state string) func(*records.Key) {
	return func(k *records.Key) { k.Source, k.State = "kmip", state }
}

var weakenedCases = []tcase{
	{name: "sensitive true to false", check: "key-attribute-weakened", want: 1, sev: reconcile.High, msg: "between runs 3 and 5: no longer sensitive",
		snap: changed(same, func(k *records.Key) { f := false; k.Sensitive = &f })},
	{name: "extractable false to true", check: "key-attribute-weakened", want: 1, msg: "now extractable",
		snap: changed(same, func(k *records.Key) { t := true; k.Extractable = &t })},
	{name: "usage broadened", check: "key-attribute-weakened", want: 1, msg: "usage broadened by decrypt",
		snap: changed(same, func(k *records.Key) { k.Usage = []string{"sign", "decrypt"} })},
	{name: "KMIP deactivated back to active", check: "key-attribute-weakened", want: 1, msg: "state went back from deactivated to active",
		snap: changed(kmip("deactivated"), kmip("active"))},
	{name: "KMIP destroyed back to deactivated", check: "key-attribute-weakened", want: 1, msg: "from destroyed to deactivated",
		snap: changed(kmip("destroyed"), kmip("deactivated"))},
	{name: "several weakenings are one finding", check: "key-attribute-weakened", want: 1, msg: "no longer sensitive; now extractable",
		snap: changed(same, func(k *records.Key) { t, f := true, false; k.Sensitive, k.Extractable = &f, &t })},
	{name: "strengthened, narrowed, moved forward, unknown flags", check: "key-attribute-weakened", want: 0,
		snap: reconcile.Snapshot{Changed: append(append(append(append(changed(func(k *records.Key) { f, t := false, true; k.Sensitive, k.Extractable = &f, &t }, same).Changed,
			changed(func(k *records.Key) { k.Usage = []string{"sign", "decrypt"} }, same).Changed...),
			changed(kmip("active"), kmip("compromised")).Changed...),
			changed(func(k *records.Key) { k.Sensitive, k.Extractable = nil, nil }, same).Changed...),
			changed(func(k *records.Key) { k.State = "disabled" }, func(k *records.Key) { k.State = "enabled" }).Changed...)}},
}
