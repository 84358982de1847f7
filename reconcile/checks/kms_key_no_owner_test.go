package checks

import "github.com/keyaudit/keyaudit/store/records"

func init() {
	cases = append(cases, noOwnerCases...)
}

var noOwnerCases = []tcase{
	{name: "KMS key without owner tag", check: "kms-key-no-owner", want: 1, msg: "has no owner tag",
		snap: snapKeys(kmsKey("anon", ""), kmsKey("owned", "", func(k *records.Key) { k.Owner, k.Tags = "team-a", map[string]string{"owner": "team-a"} }))},
	{name: "HSM key, KMS key pending deletion, owner from metadata", check: "kms-key-no-owner", want: 0,
		snap: snapKeys(key("hsm", "s1"), kmsKey("going", "", pending), kmsKey("cfg", "", func(k *records.Key) { k.Owner = "from-config" }))},
}
