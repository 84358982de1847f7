package stage

import (
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// TestEstateKeepsFingerprintOfKeyPendingDeletion: a KMS refuses the
// public key of a key pending deletion; the estate takes its fingerprint
// from the latest earlier read that had one, however many reads ago.
func TestEstateKeepsFingerprintOfKeyPendingDeletion(t *testing.T) {
	src := "awskms://eu-west-2"
	key := func(ref, state, spki string) store.Item {
		it := item(t, store.KindKey, src+"|"+ref, inventory.Key{Source: "aws-kms", Label: ref, Ref: ref, State: state, SPKISHA256: spki, Class: inventory.ClassPrivateKey})
		it.SPKISHA256 = spki
		return it
	}
	status := item(t, store.KindSourceStatus, src, inventory.Result{Source: src, Status: inventory.StatusComplete})
	s := estateOf(t, time.Now(),
		fakeRun{"inventory", store.StatusComplete, []store.Item{status, key("ec", "enabled", "old"), key("never", "pending_deletion", "")}},
		fakeRun{"inventory", store.StatusComplete, []store.Item{status, key("ec", "enabled", "s1"), key("never", "pending_deletion", "")}},
		fakeRun{"inventory", store.StatusComplete, []store.Item{status, key("ec", "pending_deletion", ""), key("never", "pending_deletion", "")}},
		fakeRun{"inventory", store.StatusComplete, []store.Item{status, key("ec", "pending_deletion", ""), key("never", "pending_deletion", "")}},
	)
	got := map[string]records.Key{}
	for _, k := range s.Keys {
		got[k.Label] = k
	}
	if k := got["ec"]; k.SPKISHA256 != "s1" || k.SPKISource != records.SPKIFromEarlierRead {
		t.Errorf("pending key: spki %q from %q, want s1 from an earlier read", k.SPKISHA256, k.SPKISource)
	}
	if k := got["never"]; k.SPKISHA256 != "" {
		t.Errorf("a key never read whole got spki %q", k.SPKISHA256)
	}
	if len(s.Disappeared) != 0 {
		t.Errorf("disappeared %+v", s.Disappeared)
	}
}
