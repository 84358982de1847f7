// Package queue is keyaudit's optional work queue: River
// (github.com/riverqueue/river) on the PostgreSQL database that also
// holds the store, for fleets that prefer workers pulling jobs to runners
// each told their shard.
//
// Two kinds of job exist. A scan job (ScanArgs) runs the scanner over its
// targets — optionally one shard i/n of them — and writes every
// observation into a store run of the job's run group, so the jobs of one
// group read back as one logical run (store.GroupItems). A CT-sync job
// (CTSyncArgs) catches one CT log up with ctlog and commits sightings and
// the log's position together (store.Advance). CT-sync jobs are unique
// per log while queued or running, and the worker additionally holds a
// PostgreSQL advisory lock on the log for the whole sync, so exactly one
// worker at a time advances a log's checkpoint, even when River rescues a
// job it believes stuck.
//
// The package owns job definitions, the River client and the workers. It
// must not parse flags (cmd/keyaudit does) or hold SQL of the store.
package queue
