package checks

import (
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	cases = append(cases, rotationCases...)
}

func kmsKey(label, spki string, mods ...func(*records.Key)) records.Key {
	f := false
	return key(label, spki, append([]func(*records.Key){func(k *records.Key) {
		k.Source, k.Token, k.State, k.URI = "aws-kms", "eu-west-2/111122223333", "enabled", "arn:aws:kms:eu-west-2:111122223333:key/"+label
		if spki == "" {
			k.Class, k.KeyType, k.KeyBits, k.Curve, k.Rotation = records.ClassSecretKey, "AES", 256, "", &f
		}
	}}, mods...)...)
}

var rotationCases = []tcase{
	{name: "KMS symmetric key without rotation", check: "kms-key-rotation-disabled", want: 1, msg: "is not rotated automatically",
		snap: snapKeys(kmsKey("static", ""), kmsKey("rotated", "", func(k *records.Key) { t := true; k.Rotation = &t }))},
	{name: "KMS asymmetric, imported or disabled keys", check: "kms-key-rotation-disabled", want: 0,
		snap: snapKeys(kmsKey("rsa", "s1"), kmsKey("imported", "", func(k *records.Key) { k.Rotation = nil }),
			kmsKey("off", "", func(k *records.Key) { k.State = "disabled" }), key("hsm-aes", "", func(k *records.Key) { k.Class = records.ClassSecretKey }))},
}

func snapKeys(keys ...records.Key) reconcile.Snapshot { return reconcile.Snapshot{Keys: keys} }
