package stage

import (
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// TestEstateInventoryDrift reads two complete reads of a source (and a
// failed one after them, which changes nothing) through the store and
// checks the drift the estate sees and the findings the drift checks make
// of it, each naming both reads.
func TestEstateInventoryDrift(t *testing.T) {
	const src = "pkcs11:token=hsm1"
	yes, no := true, false
	base := func(label string) inventory.Key {
		return inventory.Key{Source: "pkcs11", Token: "hsm1", TokenSerial: "0001", Label: label, ID: "01", Ref: "pkcs11:0001/" + label,
			Class: inventory.ClassPrivateKey, KeyType: "EC", SPKISHA256: "s-" + label, Sensitive: &yes, Extractable: &no, Usage: []string{"sign"}}
	}
	with := func(k inventory.Key, mods ...func(*inventory.Key)) inventory.Key {
		for _, m := range mods {
			m(&k)
		}
		return k
	}
	reads := func(t *testing.T, before, after []inventory.Key, tokBefore, tokAfter []records.Token) []fakeRun {
		run := func(st store.RunStatus, keys []inventory.Key, toks []records.Token) fakeRun {
			items := []store.Item{item(t, store.KindSourceStatus, src, inventory.Result{Source: src, Status: inventory.Status(st), Tokens: toks})}
			for _, k := range keys {
				items = append(items, item(t, store.KindKey, src+"|"+k.Ref, k))
			}
			return fakeRun{"inventory", st, items}
		}
		return []fakeRun{run(store.StatusComplete, before, tokBefore), run(store.StatusComplete, after, tokAfter), run(store.StatusFailed, nil, nil)}
	}
	tests := []struct {
		name          string
		before, after []inventory.Key
		// tokBefore and tokAfter are the tokens the reads' statuses record
		// (nil: a read from before they were recorded).
		tokBefore, tokAfter []records.Token
		// want maps a check to the messages of its findings (substrings).
		want map[string][]string
	}{
		{name: "no drift", before: []inventory.Key{base("a")}, after: []inventory.Key{base("a")}, want: map[string][]string{}},
		{name: "a key appeared, one claimed by a metadata rule",
			before: []inventory.Key{base("a")},
			after:  []inventory.Key{base("a"), base("new"), with(base("web"), func(k *inventory.Key) { k.Owner = "web-team" })},
			want: map[string][]string{"key-appeared": {
				"hsm1/new is listed by pkcs11:token=hsm1 in run 2 and was not in its complete read of run 1; no metadata rule",
				"hsm1/web is listed by pkcs11:token=hsm1 in run 2 and was not in its complete read of run 1"}}},
		{name: "attributes weakened",
			before: []inventory.Key{base("a"), base("b"), base("c")},
			after: []inventory.Key{
				with(base("a"), func(k *inventory.Key) { k.Sensitive = &no }),
				with(base("b"), func(k *inventory.Key) { k.Extractable, k.Usage = &yes, []string{"sign", "decrypt"} }),
				with(base("c"), func(k *inventory.Key) { k.Notes = []string{"a note changes nothing that matters"} })},
			want: map[string][]string{"key-attribute-weakened": {
				"hsm1/a of pkcs11:token=hsm1 weakened between runs 1 and 2: no longer sensitive",
				"hsm1/b of pkcs11:token=hsm1 weakened between runs 1 and 2: now extractable; usage broadened by decrypt"}}},
		{name: "KMIP state back to active",
			before: []inventory.Key{with(base("k"), func(k *inventory.Key) { k.Source, k.State = "kmip", "compromised" })},
			after:  []inventory.Key{with(base("k"), func(k *inventory.Key) { k.Source, k.State = "kmip", "active" })},
			want:   map[string][]string{"key-attribute-weakened": {"state went back from compromised to active"}}},
		{name: "token replaced: its keys disappeared and appeared",
			before: []inventory.Key{base("a")},
			after:  []inventory.Key{with(base("a"), func(k *inventory.Key) { k.TokenSerial, k.Ref = "0002", "pkcs11:0002/a" })},
			want: map[string][]string{
				"token-changed":   {"token hsm1 (serial 0001) of pkcs11:token=hsm1 in run 1 is token hsm1 (serial 0002) in run 2: replaced by another device"},
				"key-appeared":    {"hsm1/a is listed by pkcs11:token=hsm1 in run 2"},
				"key-disappeared": {"hsm1/a was listed by pkcs11:token=hsm1 in run 1 and is gone from its complete read in run 2"}}},
		{name: "token re-initialised",
			before: []inventory.Key{base("a")},
			after:  []inventory.Key{with(base("a"), func(k *inventory.Key) { k.Token = "hsm1-new" })},
			want:   map[string][]string{"token-changed": {"is token hsm1-new (serial 0001) in run 2: re-initialised or updated (label \"hsm1\" → \"hsm1-new\")"}}},
		{name: "token firmware updated, recorded in the source status",
			before: []inventory.Key{base("a")}, after: []inventory.Key{base("a")},
			tokBefore: []records.Token{{Label: "hsm1", Serial: "0001", Model: "SoftHSM v2", FirmwareVersion: "2.5", HardwareVersion: "2.5"}},
			tokAfter:  []records.Token{{Label: "hsm1", Serial: "0001", Model: "SoftHSM v2", FirmwareVersion: "2.6", HardwareVersion: "2.5"}},
			want:      map[string][]string{"token-changed": {`(firmware_version "2.5" → "2.6")`}}},
		{name: "tokens recorded by the latest read only: nothing to compare but label and serial",
			before: []inventory.Key{base("a")}, after: []inventory.Key{base("a")},
			tokAfter: []records.Token{{Label: "hsm1", Serial: "0001", Model: "SoftHSM v2", FirmwareVersion: "2.6"}},
			want:     map[string][]string{}},
	}
	checks := []string{"key-appeared", "key-attribute-weakened", "token-changed", "key-disappeared"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := estateOf(t, time.Now(), reads(t, tc.before, tc.after, tc.tokBefore, tc.tokAfter)...)
			res := reconcile.Run(s, reconcile.Options{Checks: checks})
			got := map[string][]string{}
			for _, f := range res.Findings {
				got[f.Check] = append(got[f.Check], f.Message)
				if f.Evidence["previous_run"] == nil && f.Evidence["last_listed_run"] == nil {
					t.Errorf("%s: evidence %v names one read", f.Check, f.Evidence)
				}
			}
			for _, c := range checks {
				if len(got[c]) != len(tc.want[c]) {
					t.Errorf("%s: %d findings %q, want %d", c, len(got[c]), got[c], len(tc.want[c]))
					continue
				}
				for i, w := range tc.want[c] {
					if !strings.Contains(got[c][i], w) {
						t.Errorf("%s finding %d: %q does not contain %q", c, i, got[c][i], w)
					}
				}
			}
		})
	}
}
