// Package postgres is keyaudit's shared store: PostgreSQL through
// github.com/jackc/pgx/v5, for many scanners (CI jobs, Kubernetes pods,
// queue workers) writing into one place at once.
//
// It implements store.Store with the same semantics as the SQLite backend
// and passes the same suite (store/storetest). The schema is versioned:
// migrations run at Open, serialised across processes by an advisory
// lock, so any number of processes may start together against a new
// database. The audit table is append-only, enforced by triggers that
// reject UPDATE, DELETE and TRUNCATE for every client, not just keyaudit.
//
// It owns SQL and nothing else: no scanning, no CT, no queue. Use a
// database of its own (or a schema of its own via search_path in the
// URL): its tables are runs, items, cursors and audit.
package postgres
