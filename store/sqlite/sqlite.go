// Package sqlite is keyaudit's embedded store: one SQLite file in WAL mode
// (modernc.org/sqlite, no cgo), with schema migrations.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"modernc.org/sqlite" // database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyaudit/keyaudit/store"
)

// migrations are applied in order; each entry is one schema version.
// Never edit a released entry: append a new one.
var migrations = []string{
	`CREATE TABLE runs (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		kind     TEXT NOT NULL,
		grp      TEXT NOT NULL DEFAULT '',
		started  TEXT NOT NULL,
		ended    TEXT NOT NULL DEFAULT '',
		status   TEXT NOT NULL,
		note     TEXT NOT NULL DEFAULT '',
		meta     TEXT NOT NULL DEFAULT '{}'
	);
	CREATE INDEX runs_kind ON runs(kind, id);
	CREATE INDEX runs_grp ON runs(grp);
	CREATE TABLE items (
		seq     INTEGER PRIMARY KEY AUTOINCREMENT,
		run_id  INTEGER NOT NULL REFERENCES runs(id),
		kind    TEXT NOT NULL,
		key     TEXT NOT NULL,
		spki    TEXT NOT NULL DEFAULT '',
		cert    TEXT NOT NULL DEFAULT '',
		data    TEXT NOT NULL,
		UNIQUE(run_id, kind, key)
	);
	CREATE INDEX items_spki ON items(spki) WHERE spki != '';
	CREATE INDEX items_cert ON items(cert) WHERE cert != '';
	CREATE TABLE cursors (
		name    TEXT PRIMARY KEY,
		value   BLOB NOT NULL,
		run_id  INTEGER NOT NULL,
		updated TEXT NOT NULL
	);
	CREATE TABLE audit (
		id     INTEGER PRIMARY KEY AUTOINCREMENT,
		time   TEXT NOT NULL,
		actor  TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		detail TEXT NOT NULL DEFAULT '{}'
	);
	CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
	CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;`,
	// 2: hash chain (store.ChainEntry). Entries written before it keep
	// empty hashes: store.VerifyAudit accepts them only before the chain.
	`ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
	ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';`,
	// 3: run leases, the estate view's per-key history, the findings
	// lifecycle.
	`ALTER TABLE runs ADD COLUMN holder TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN heartbeat TEXT NOT NULL DEFAULT '';
	CREATE INDEX runs_status ON runs(status);
	CREATE INDEX items_kind_key ON items(kind, key, run_id, seq);
	CREATE TABLE findings (
		fingerprint TEXT PRIMARY KEY,
		check_id    TEXT NOT NULL,
		severity    TEXT NOT NULL,
		state       TEXT NOT NULL,
		first_seen  TEXT NOT NULL,
		last_seen   TEXT NOT NULL,
		since       TEXT NOT NULL,
		run_id      INTEGER NOT NULL,
		data        TEXT NOT NULL,
		evidence    TEXT NOT NULL DEFAULT '{}'
	);
	CREATE INDEX findings_check ON findings(check_id);
	CREATE TABLE finding_events (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		fingerprint TEXT NOT NULL,
		time        TEXT NOT NULL,
		run_id      INTEGER NOT NULL,
		event       TEXT NOT NULL,
		evidence    TEXT NOT NULL DEFAULT '{}'
	);
	CREATE INDEX finding_events_fp ON finding_events(fingerprint, id);`,
	// 4: no query looks items up by SPKI or certificate hash (reads go by
	// run and kind, or kind and key); the two indexes only made every
	// write update two more B-trees keyed by random hashes.
	`DROP INDEX items_spki;
	DROP INDEX items_cert;`,
	// 5: the notification outbox. Times are fixed-width UTC text (fts),
	// so that they compare as strings.
	`CREATE TABLE notifications (
		id            INTEGER PRIMARY KEY AUTOINCREMENT,
		key           TEXT NOT NULL UNIQUE,
		route         TEXT NOT NULL,
		sink          TEXT NOT NULL,
		event         TEXT NOT NULL,
		fingerprint   TEXT NOT NULL DEFAULT '',
		owner         TEXT NOT NULL DEFAULT '',
		payload       TEXT NOT NULL,
		created       TEXT NOT NULL,
		status        TEXT NOT NULL,
		attempts      INTEGER NOT NULL DEFAULT 0,
		next_attempt  TEXT NOT NULL,
		last_error    TEXT NOT NULL DEFAULT '',
		sent_at       TEXT NOT NULL DEFAULT '',
		claimed_by    TEXT NOT NULL DEFAULT '',
		claimed_until TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX notifications_due ON notifications(status, next_attempt);`,
	// 6: a certificate's DER as bytes in its own column (store.Item.DER)
	// instead of base64 inside the JSON.
	`ALTER TABLE items ADD COLUMN der BLOB;`,
}

// Store is a store.Store on one SQLite file.
type Store struct {
	db       *sql.DB
	now      func() time.Time
	readOnly bool
}

var _ store.Store = (*Store)(nil)

// pageSize is the page size of a new store file.
const pageSize = 65536

// Open opens (creating if needed) the database at path and migrates it.
// The path ":memory:" is not supported: runs must survive the process.
// Two processes creating one store at once are safe: migrations run in
// one write transaction that re-reads the schema version.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty store path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create store directory: %w", err)
	}
	// WAL is set once by walMode, not per connection: the mode is kept in
	// the file. The page size applies only to a new file (SQLite ignores
	// it once the file has pages, and in WAL mode): stores hold rows of
	// 1–4 KB (certificates, CT sightings), which on 4 KiB pages take a
	// page each and a write system call per page. 16 KiB pages took about
	// a fifth off a broad CT watch (a sighting and its certificate per
	// entry); 64 KiB, SQLite's largest, another sixth (fewer pages to
	// balance, write and checkpoint; the file is 5% smaller), with scans
	// unchanged. Stores created before keep their page size.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=page_size(" + strconv.Itoa(pageSize) + ")&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One writer at a time is SQLite's model; a small pool lets readers
	// stream while a writer commits (WAL).
	db.SetMaxOpenConns(4)
	s := &Store{db: db, now: time.Now}
	if err := s.walMode(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	return s, nil
}

// OpenReadOnly opens an existing store for reading only: it never
// creates a file (a missing path is store.ErrNoStore) nor migrates, and
// works on a read-only file or mount.
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty store path")
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sqlite: %s: %w", path, store.ErrNoStore)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("sqlite: %s: not a regular file", path)
	}
	var lastErr error
	// mode=ro reads a WAL store whose directory is writable; immutable=1
	// reads one on a read-only mount (where SQLite cannot create -shm).
	for _, opt := range []string{"mode=ro", "immutable=1"} {
		db, err := sql.Open("sqlite", "file:"+path+"?"+opt+"&_pragma=busy_timeout(10000)")
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		db.SetMaxOpenConns(4)
		s := &Store{db: db, now: time.Now, readOnly: true}
		var have int
		if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			db.Close()
			lastErr = err
			continue
		}
		if have > len(migrations) {
			db.Close()
			return nil, fmt.Errorf("sqlite: %s: store schema version %d is newer than this keyaudit (%d)", path, have, len(migrations))
		}
		if have < len(migrations) {
			db.Close()
			return nil, fmt.Errorf("sqlite: %s: store schema version %d is older than this keyaudit (%d): run a command that writes (keyaudit audit, scan …) once to migrate it", path, have, len(migrations))
		}
		return s, nil
	}
	return nil, fmt.Errorf("sqlite: %s: not a keyaudit store (%v)", path, lastErr)
}

// walMode switches the store to WAL. Switching a new file takes an
// exclusive lock; when two connections creating it both hold a shared
// lock and want it, SQLite refuses one at once with SQLITE_BUSY (waiting
// would deadlock), so that one tries again.
func (s *Store) walMode(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for attempt := 1; ; attempt++ {
		var mode string
		err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode=WAL`).Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("set WAL mode: journal mode is %s", mode)
			}
			return nil
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return fmt.Errorf("set WAL mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("set WAL mode: %w", err)
		case <-time.After(time.Duration(min(attempt, 20)) * 5 * time.Millisecond):
		}
	}
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// BEGIN IMMEDIATE (the DSN's _txlock): the version is read under the
	// write lock, so a second process creating the store waits and then
	// finds nothing to do.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("migrate: store schema version %d is newer than this keyaudit (%d)", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, applied) VALUES (?, ?)`, v, ts(s.now())); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTS(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// BeginRun implements store.Store.
func (s *Store) BeginRun(ctx context.Context, spec store.RunSpec) (store.Run, error) {
	meta := []byte("{}")
	if spec.Meta != nil {
		b, err := json.Marshal(spec.Meta)
		if err != nil {
			return store.Run{}, fmt.Errorf("sqlite: run meta: %w", err)
		}
		meta = b
	}
	r := store.Run{Kind: spec.Kind, Group: spec.Group, Started: s.now().UTC(), Status: store.StatusRunning, Meta: meta, Holder: spec.Holder}
	r.Heartbeat = r.Started
	res, err := s.db.ExecContext(ctx, `INSERT INTO runs(kind, grp, started, status, meta, holder, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Kind, r.Group, ts(r.Started), string(r.Status), string(meta), r.Holder, ts(r.Heartbeat))
	if err != nil {
		return store.Run{}, fmt.Errorf("sqlite: begin run: %w", err)
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return store.Run{}, fmt.Errorf("sqlite: begin run: %w", err)
	}
	return r, nil
}

// FinishRun implements store.Store. A run already closed (abandoned by
// another process) is not reopened: the error wraps store.ErrRunClosed.
func (s *Store) FinishRun(ctx context.Context, id int64, status store.RunStatus, note string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, note = ?, ended = ? WHERE id = ? AND status = ?`, string(status), note, ts(s.now()), id, string(store.StatusRunning))
	if err != nil {
		return fmt.Errorf("sqlite: finish run %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetRun(ctx, id); err != nil {
			return fmt.Errorf("sqlite: finish run %d: %w", id, err)
		}
		return fmt.Errorf("sqlite: finish run %d: %w", id, store.ErrRunClosed)
	}
	return nil
}

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET heartbeat = ? WHERE id = ? AND status = ?`, ts(s.now()), id, string(store.StatusRunning))
	if err != nil {
		return fmt.Errorf("sqlite: heartbeat run %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: heartbeat run %d: %w", id, store.ErrRunClosed)
	}
	return nil
}

// AbandonStale implements store.Store.
func (s *Store) AbandonStale(ctx context.Context, lease time.Duration) ([]store.Run, error) {
	if s.readOnly {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: abandon stale runs: %w", err)
	}
	defer tx.Rollback()
	// RFC 3339 strings with trimmed fractions do not sort as times:
	// compare in Go.
	rows, err := tx.QueryContext(ctx, `SELECT `+runCols+` FROM runs WHERE status = ?`, string(store.StatusRunning))
	if err != nil {
		return nil, fmt.Errorf("sqlite: abandon stale runs: %w", err)
	}
	var stale []store.Run
	limit := s.now().Add(-lease)
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: abandon stale runs: %w", err)
		}
		hb := r.Heartbeat
		if hb.IsZero() {
			hb = r.Started
		}
		if hb.Before(limit) {
			stale = append(stale, r)
		}
	}
	rows.Close()
	now := s.now()
	for i := range stale {
		r := &stale[i]
		r.Status, r.Ended = store.StatusAbandoned, now.UTC()
		r.Note = fmt.Sprintf("abandoned: holder %s stopped renewing its lease (last heartbeat %s)", r.Holder, r.Heartbeat.UTC().Format(time.RFC3339))
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, ended = ?, note = ? WHERE id = ? AND status = ?`,
			string(r.Status), ts(now), r.Note, r.ID, string(store.StatusRunning)); err != nil {
			return nil, fmt.Errorf("sqlite: abandon run %d: %w", r.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: abandon stale runs: %w", err)
	}
	return stale, nil
}

const runCols = `id, kind, grp, started, ended, status, note, meta, holder, heartbeat`

func scanRun(row interface{ Scan(...any) error }) (store.Run, error) {
	var r store.Run
	var started, ended, status, meta, hb string
	if err := row.Scan(&r.ID, &r.Kind, &r.Group, &started, &ended, &status, &r.Note, &meta, &r.Holder, &hb); err != nil {
		return r, err
	}
	r.Started, r.Ended, r.Status, r.Meta, r.Heartbeat = parseTS(started), parseTS(ended), store.RunStatus(status), json.RawMessage(meta), parseTS(hb)
	return r, nil
}

// GetRun implements store.Store.
func (s *Store) GetRun(ctx context.Context, id int64) (store.Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runCols+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("sqlite: run %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("sqlite: run %d: %w", id, err)
	}
	return r, nil
}

// Runs implements store.Store.
func (s *Store) Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	q := `SELECT ` + runCols + ` FROM runs WHERE 1=1`
	var args []any
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	if f.Group != "" {
		q += ` AND grp = ?`
		args = append(args, f.Group)
	}
	if len(f.Status) > 0 {
		q += ` AND status IN (?` + strings.Repeat(`, ?`, len(f.Status)-1) + `)`
		for _, st := range f.Status {
			args = append(args, string(st))
		}
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list runs: %w", err)
	}
	defer rows.Close()
	var out []store.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

const upsertItem = `INSERT INTO items(run_id, kind, key, spki, cert, data, der) VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT(run_id, kind, key) DO UPDATE SET spki = excluded.spki, cert = excluded.cert, data = excluded.data, der = excluded.der`

func putTx(ctx context.Context, tx *sql.Tx, runID int64, items []store.Item) error {
	if len(items) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, upsertItem)
	if err != nil {
		return err
	}
	defer stmt.Close()
	// The rows are written under a context that cannot end, and ctx is
	// checked between them instead: the driver starts a goroutine per
	// statement to watch a context that can (a few per cent of a broad CT
	// watch's CPU, a row per entry), and a row is a few microseconds. The
	// transaction itself still ends with ctx.
	rowCtx := context.WithoutCancel(ctx)
	for _, it := range items {
		if it.Kind == "" {
			return errors.New("item without kind")
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := stmt.ExecContext(rowCtx, runID, it.Kind, it.Key, it.SPKISHA256, it.CertSHA256, textArg(it.Data), derArg(it.DER)); err != nil {
			return fmt.Errorf("item %s/%s: %w", it.Kind, it.Key, err)
		}
	}
	return nil
}

// textArg passes b as a TEXT argument without copying it: the driver
// copies the bytes into SQLite's memory while binding, and b is not
// changed while the statement runs. A CT sync's items are ≈2.5 KB each,
// and a copy per item was a tenth of what it allocated. (A []byte
// argument would be bound as a BLOB, which json_extract and the other
// readers of data do not read as text.)
func textArg(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// derArg is an item's DER as a BLOB argument, NULL when it has none.
func derArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, runID int64, items ...store.Item) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: put: %w", err)
	}
	if err := putTx(ctx, tx, runID, items); err != nil {
		tx.Rollback()
		return fmt.Errorf("sqlite: put run %d: %w", runID, ended(ctx, err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: put run %d: %w", runID, ended(ctx, err))
	}
	return nil
}

// ended is err, or — when ctx has ended — ctx's error with err as
// detail: database/sql rolls a transaction back once its context ends,
// and what fails next says only that the statement or transaction is
// closed.
func ended(ctx context.Context, err error) error {
	if c := ctx.Err(); c != nil && !errors.Is(err, c) {
		return fmt.Errorf("%w (%v)", c, err)
	}
	return err
}

// Items implements store.Store.
func (s *Store) Items(ctx context.Context, runID int64, kind string, fn func(store.Item) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, key, spki, cert, data, der FROM items WHERE run_id = ? AND kind = ? ORDER BY seq`, runID, kind)
	if err != nil {
		return fmt.Errorf("sqlite: items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it store.Item
		var data string
		if err := rows.Scan(&it.Kind, &it.Key, &it.SPKISHA256, &it.CertSHA256, &data, &it.DER); err != nil {
			return fmt.Errorf("sqlite: items: %w", err)
		}
		it.Data = json.RawMessage(data)
		if err := fn(it); err != nil {
			return err
		}
	}
	return rows.Err()
}

// KindItems implements store.Store.
func (s *Store) KindItems(ctx context.Context, kind string, statuses []store.RunStatus, fn func(int64, store.Item) error) error {
	if len(statuses) == 0 {
		return errors.New("sqlite: kind items: no statuses")
	}
	args := []any{kind}
	for _, st := range statuses {
		args = append(args, string(st))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT i.run_id, i.kind, i.key, i.spki, i.cert, i.data, i.der FROM items i JOIN runs r ON r.id = i.run_id
		WHERE i.kind = ? AND r.status IN (?`+strings.Repeat(`, ?`, len(statuses)-1)+`) ORDER BY i.key, i.run_id, i.seq`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: %s items: %w", kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		var it store.Item
		var runID int64
		var data string
		if err := rows.Scan(&runID, &it.Kind, &it.Key, &it.SPKISHA256, &it.CertSHA256, &data, &it.DER); err != nil {
			return fmt.Errorf("sqlite: %s items: %w", kind, err)
		}
		it.Data = json.RawMessage(data)
		if err := fn(runID, it); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Count implements store.Store.
func (s *Store) Count(ctx context.Context, runID int64, kind string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM items WHERE run_id = ? AND kind = ?`, runID, kind).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count: %w", err)
	}
	return n, nil
}

// Cursor implements store.Store.
func (s *Store) Cursor(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM cursors WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: cursor %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: cursor %q: %w", name, err)
	}
	return v, nil
}

// Advance implements store.Store.
func (s *Store) Advance(ctx context.Context, runID int64, name string, value []byte, items ...store.Item) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: advance %q: %w", name, err)
	}
	if err := putTx(ctx, tx, runID, items); err != nil {
		tx.Rollback()
		return fmt.Errorf("sqlite: advance %q: %w", name, ended(ctx, err))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO cursors(name, value, run_id, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET value = excluded.value, run_id = excluded.run_id, updated = excluded.updated`,
		name, value, runID, ts(s.now())); err != nil {
		tx.Rollback()
		return fmt.Errorf("sqlite: advance %q: %w", name, ended(ctx, err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: advance %q: %w", name, ended(ctx, err))
	}
	return nil
}

// AppendAudit implements store.Store. The transaction is BEGIN
// IMMEDIATE (the DSN's _txlock), so it holds SQLite's write lock from the
// read of the last entry to the commit: appenders, in this process or
// another, are serialised and cannot fork the chain.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return e, fmt.Errorf("sqlite: audit: %w", err)
	}
	defer tx.Rollback()
	var lastID int64
	var prev string
	err = tx.QueryRowContext(ctx, `SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1`).Scan(&lastID, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("sqlite: audit: %w", err)
	}
	e.ID = lastID + 1
	if e, err = store.ChainEntry(prev, e); err != nil {
		return e, fmt.Errorf("sqlite: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit(id, time, actor, action, target, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, ts(e.Time), e.Actor, e.Action, e.Target, string(e.Detail), e.PrevHash, e.Hash); err != nil {
		return e, fmt.Errorf("sqlite: audit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return e, fmt.Errorf("sqlite: audit: %w", err)
	}
	return e, nil
}

// Audit implements store.Store.
func (s *Store) Audit(ctx context.Context, fn func(store.AuditEntry) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, time, actor, action, target, detail, prev_hash, hash FROM audit ORDER BY id`)
	if err != nil {
		return fmt.Errorf("sqlite: audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e store.AuditEntry
		var t, d string
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &d, &e.PrevHash, &e.Hash); err != nil {
			return fmt.Errorf("sqlite: audit: %w", err)
		}
		e.Time, e.Detail = parseTS(t), json.RawMessage(d)
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Close implements store.Store.
func (s *Store) Close() error { return s.db.Close() }

// LatestItems implements store.Store. Each key's latest items are found
// by walking the (kind, key, run_id, seq) index backwards from the key's
// end, so the cost grows with the keys and n, not with the history.
func (s *Store) LatestItems(ctx context.Context, runKind, kind string, statuses []store.RunStatus, n int, fn func(int64, int64, store.Item) error) error {
	if len(statuses) == 0 || n <= 0 {
		return errors.New("sqlite: latest items: no statuses or no count")
	}
	in := `(?` + strings.Repeat(`, ?`, len(statuses)-1) + `)`
	filter := []any{kind, runKind}
	for _, st := range statuses {
		filter = append(filter, string(st))
	}
	// In placeholder order: the first run's filter, the keys' kind, the
	// latest items' filter and n.
	args := append(append(append(slices.Clone(filter), kind), filter...), n)
	q := `SELECT it.run_id, (SELECT MIN(f.run_id) FROM items f JOIN runs fr ON fr.id = f.run_id
			WHERE f.kind = ? AND f.key = k.key AND fr.kind = ? AND fr.status IN ` + in + `),
		it.kind, it.key, it.spki, it.cert, it.data, it.der
	FROM (SELECT DISTINCT key FROM items WHERE kind = ?) k
	JOIN items it ON it.seq IN (SELECT i.seq FROM items i JOIN runs r ON r.id = i.run_id
		WHERE i.kind = ? AND i.key = k.key AND r.kind = ? AND r.status IN ` + in + `
		ORDER BY i.run_id DESC, i.seq DESC LIMIT ?)
	ORDER BY it.key, it.run_id, it.seq`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: latest %s items: %w", kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		var it store.Item
		var runID int64
		var first sql.NullInt64
		var data string
		if err := rows.Scan(&runID, &first, &it.Kind, &it.Key, &it.SPKISHA256, &it.CertSHA256, &data, &it.DER); err != nil {
			return fmt.Errorf("sqlite: latest %s items: %w", kind, err)
		}
		it.Data = json.RawMessage(data)
		if err := fn(runID, first.Int64, it); err != nil {
			return err
		}
	}
	return rows.Err()
}
