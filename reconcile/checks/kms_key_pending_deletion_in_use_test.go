package checks

import (
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	cases = append(cases, pendingDeletionCases...)
}

func pending(k *records.Key) {
	d := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	k.State, k.DeletionDate = "pending_deletion", &d
}

var pendingDeletionCases = []tcase{
	{name: "KMS key pending deletion still served", check: "kms-key-pending-deletion-in-use", want: 1, msg: "pending deletion (on 2026-12-02)",
		snap: reconcile.Snapshot{Keys: []records.Key{kmsKey("ec", "s1", pending)}, Observations: []records.Observation{obs("a:443", cert("a", "s1"))}}},
	{name: "KMS key pending deletion in CT", check: "kms-key-pending-deletion-in-use", want: 1,
		snap: reconcile.Snapshot{Keys: []records.Key{kmsKey("ec", "s1", pending)}, Sightings: []records.Sighting{{Log: "log1", Index: 1, SPKISHA256: "s1"}}}},
	{name: "KMS key pending deletion unused, enabled key served", check: "kms-key-pending-deletion-in-use", want: 0,
		snap: reconcile.Snapshot{Keys: []records.Key{kmsKey("ec", "s1", pending), kmsKey("ec2", "s2")}, Observations: []records.Observation{obs("a:443", cert("a", "s2"))}}},
}
