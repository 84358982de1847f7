// Package queue is keyaudit's optional work queue: River
// (github.com/riverqueue/river) on the PostgreSQL database that also
// holds the store, for fleets that prefer workers pulling jobs to runners
// each told their shard.
//
// Two kinds of job exist. A scan job (ScanArgs) runs the scan stage
// (stage.Scan) over its targets — optionally one shard i/n of them — into
// a store run of the job's run group; a group is complete when every
// shard it declared has a finished run. A CT-sync job (CTSyncArgs) runs
// the CT stage (stage.CTSync) for one log, which commits sightings and
// the log's position together (store.Advance). Runs hold a lease while
// they work; a job whose worker died is rescued (Config.RescueAfter) and
// its run marked abandoned. CT-sync jobs are unique
// per log while queued or running, and the worker additionally holds a
// PostgreSQL advisory lock on the log for the whole sync, so exactly one
// worker at a time advances a log's checkpoint, even when River rescues a
// job it believes stuck.
//
// The package owns job definitions, the River client, the workers and
// opening the queue's PostgreSQL store (Open). It must not parse flags
// (cmd/keyaudit does) or hold SQL of the store.
package queue
