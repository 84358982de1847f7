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
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

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
}

// Store is a store.Store on one SQLite file.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and migrates it.
// The path ":memory:" is not supported: runs must survive the process.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty store path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create store directory: %w", err)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One writer at a time is SQLite's model; a small pool lets readers
	// stream while a writer commits (WAL).
	db.SetMaxOpenConns(4)
	s := &Store{db: db, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var have int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("migrate: store schema version %d is newer than this keyaudit (%d)", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, applied) VALUES (?, ?)`, v, ts(s.now())); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
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
	r := store.Run{Kind: spec.Kind, Group: spec.Group, Started: s.now().UTC(), Status: store.StatusRunning, Meta: meta}
	res, err := s.db.ExecContext(ctx, `INSERT INTO runs(kind, grp, started, status, meta) VALUES (?, ?, ?, ?, ?)`,
		r.Kind, r.Group, ts(r.Started), string(r.Status), string(meta))
	if err != nil {
		return store.Run{}, fmt.Errorf("sqlite: begin run: %w", err)
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return store.Run{}, fmt.Errorf("sqlite: begin run: %w", err)
	}
	return r, nil
}

// FinishRun implements store.Store.
func (s *Store) FinishRun(ctx context.Context, id int64, status store.RunStatus, note string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, note = ?, ended = ? WHERE id = ?`, string(status), note, ts(s.now()), id)
	if err != nil {
		return fmt.Errorf("sqlite: finish run %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: finish run %d: %w", id, store.ErrNotFound)
	}
	return nil
}

const runCols = `id, kind, grp, started, ended, status, note, meta`

func scanRun(row interface{ Scan(...any) error }) (store.Run, error) {
	var r store.Run
	var started, ended, status, meta string
	if err := row.Scan(&r.ID, &r.Kind, &r.Group, &started, &ended, &status, &r.Note, &meta); err != nil {
		return r, err
	}
	r.Started, r.Ended, r.Status, r.Meta = parseTS(started), parseTS(ended), store.RunStatus(status), json.RawMessage(meta)
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

const upsertItem = `INSERT INTO items(run_id, kind, key, spki, cert, data) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT(run_id, kind, key) DO UPDATE SET spki = excluded.spki, cert = excluded.cert, data = excluded.data`

func putTx(ctx context.Context, tx *sql.Tx, runID int64, items []store.Item) error {
	if len(items) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, upsertItem)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, it := range items {
		if it.Kind == "" {
			return errors.New("item without kind")
		}
		if _, err := stmt.ExecContext(ctx, runID, it.Kind, it.Key, it.SPKISHA256, it.CertSHA256, string(it.Data)); err != nil {
			return fmt.Errorf("item %s/%s: %w", it.Kind, it.Key, err)
		}
	}
	return nil
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, runID int64, items ...store.Item) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: put: %w", err)
	}
	if err := putTx(ctx, tx, runID, items); err != nil {
		tx.Rollback()
		return fmt.Errorf("sqlite: put run %d: %w", runID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: put run %d: %w", runID, err)
	}
	return nil
}

// Items implements store.Store.
func (s *Store) Items(ctx context.Context, runID int64, kind string, fn func(store.Item) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, key, spki, cert, data FROM items WHERE run_id = ? AND kind = ? ORDER BY seq`, runID, kind)
	if err != nil {
		return fmt.Errorf("sqlite: items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it store.Item
		var data string
		if err := rows.Scan(&it.Kind, &it.Key, &it.SPKISHA256, &it.CertSHA256, &data); err != nil {
			return fmt.Errorf("sqlite: items: %w", err)
		}
		it.Data = json.RawMessage(data)
		if err := fn(it); err != nil {
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
		return fmt.Errorf("sqlite: advance %q: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO cursors(name, value, run_id, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET value = excluded.value, run_id = excluded.run_id, updated = excluded.updated`,
		name, value, runID, ts(s.now())); err != nil {
		tx.Rollback()
		return fmt.Errorf("sqlite: advance %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: advance %q: %w", name, err)
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
