// Package store persists keyaudit runs and what they produced: scan
// observations, inventory keys, CAA results, CT sightings and log cursors,
// findings and the append-only audit log.
//
// The Store interface is backend-neutral. Records are Items: a kind, a
// natural key, the two join columns every reconcile needs (spki_sha256 and
// cert sha256) and the record itself as JSON, so producers stay ignorant of
// SQL and a new record kind needs no migration. SQLite (modernc.org/sqlite,
// WAL) is the zero-setup default; other backends implement the same
// interface and pass the same test suite (storetest).
package store
