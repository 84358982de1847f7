package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyaudit/keyaudit/store"
)

// migrations are applied in order; each entry is one schema version.
// Never edit a released entry: append a new one.
//
// Record data is TEXT, not jsonb, so an item reads back byte for byte as
// it was written, as on SQLite (cast data::jsonb to query into it). Times
// are timestamptz (microseconds: Go times are truncated to that before
// they are written, so what BeginRun returns is what GetRun reads).
var migrations = []string{
	`CREATE TABLE runs (
		id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		kind     TEXT NOT NULL,
		grp      TEXT NOT NULL DEFAULT '',
		started  TIMESTAMPTZ NOT NULL,
		ended    TIMESTAMPTZ,
		status   TEXT NOT NULL,
		note     TEXT NOT NULL DEFAULT '',
		meta     JSON NOT NULL DEFAULT '{}'
	);
	CREATE INDEX runs_kind ON runs (kind, id);
	CREATE INDEX runs_grp ON runs (grp, id) WHERE grp <> '';
	CREATE TABLE items (
		seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		run_id  BIGINT NOT NULL REFERENCES runs (id),
		kind    TEXT NOT NULL CHECK (kind <> ''),
		key     TEXT NOT NULL,
		spki    TEXT NOT NULL DEFAULT '',
		cert    TEXT NOT NULL DEFAULT '',
		data    TEXT NOT NULL,
		UNIQUE (run_id, kind, key)
	);
	CREATE INDEX items_run_kind_seq ON items (run_id, kind, seq);
	CREATE INDEX items_spki ON items (spki) WHERE spki <> '';
	CREATE INDEX items_cert ON items (cert) WHERE cert <> '';
	CREATE TABLE cursors (
		name     TEXT PRIMARY KEY,
		value    BYTEA NOT NULL,
		run_id   BIGINT NOT NULL,
		updated  TIMESTAMPTZ NOT NULL
	);
	CREATE TABLE audit (
		id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		time    TIMESTAMPTZ NOT NULL,
		actor   TEXT NOT NULL,
		action  TEXT NOT NULL,
		target  TEXT NOT NULL,
		detail  TEXT NOT NULL DEFAULT '{}'
	);
	CREATE FUNCTION keyaudit_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		RAISE EXCEPTION 'audit log is append-only' USING ERRCODE = 'insufficient_privilege';
	END;
	$$;
	CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION keyaudit_audit_append_only();
	CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW EXECUTE FUNCTION keyaudit_audit_append_only();
	CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION keyaudit_audit_append_only();`,
	// 2: hash chain (store.ChainEntry). Entries written before it keep
	// empty hashes: store.VerifyAudit accepts them only before the chain.
	`ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
	ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';`,
	// 3: run leases, the estate view's per-key history, the findings
	// lifecycle. Runs begun before it take their start as last
	// heartbeat. Keys and fingerprints are ordered bytewise (COLLATE
	// "C"), as on SQLite, whatever the database's locale.
	`ALTER TABLE runs ADD COLUMN holder TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN heartbeat TIMESTAMPTZ;
	UPDATE runs SET heartbeat = started;
	ALTER TABLE runs ALTER COLUMN heartbeat SET NOT NULL;
	CREATE INDEX runs_running ON runs (heartbeat) WHERE status = 'running';
	CREATE INDEX items_kind_key ON items (kind, key COLLATE "C", run_id, seq);
	CREATE TABLE findings (
		fingerprint TEXT COLLATE "C" PRIMARY KEY,
		check_id    TEXT NOT NULL,
		severity    TEXT NOT NULL,
		state       TEXT NOT NULL,
		first_seen  TIMESTAMPTZ NOT NULL,
		last_seen   TIMESTAMPTZ NOT NULL,
		since       TIMESTAMPTZ NOT NULL,
		run_id      BIGINT NOT NULL,
		data        TEXT NOT NULL,
		evidence    TEXT NOT NULL DEFAULT '{}'
	);
	CREATE INDEX findings_check ON findings (check_id);
	CREATE INDEX findings_run ON findings (run_id);
	CREATE TABLE finding_events (
		id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		fingerprint TEXT NOT NULL,
		time        TIMESTAMPTZ NOT NULL,
		run_id      BIGINT NOT NULL,
		event       TEXT NOT NULL,
		evidence    TEXT NOT NULL DEFAULT '{}'
	);
	CREATE INDEX finding_events_fp ON finding_events (fingerprint, id);`,
	// 4: no query looks items up by SPKI or certificate hash (reads go by
	// run and kind, or kind and key); the two indexes only made every
	// write update two more B-trees keyed by random hashes.
	`DROP INDEX items_spki;
	DROP INDEX items_cert;`,
	// 5: the notification outbox.
	`CREATE TABLE notifications (
		id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		key           TEXT NOT NULL UNIQUE,
		route         TEXT NOT NULL,
		sink          TEXT NOT NULL,
		event         TEXT NOT NULL,
		fingerprint   TEXT NOT NULL DEFAULT '',
		owner         TEXT NOT NULL DEFAULT '',
		payload       TEXT NOT NULL,
		created       TIMESTAMPTZ NOT NULL,
		status        TEXT NOT NULL,
		attempts      INTEGER NOT NULL DEFAULT 0,
		next_attempt  TIMESTAMPTZ NOT NULL,
		last_error    TEXT NOT NULL DEFAULT '',
		sent_at       TIMESTAMPTZ,
		claimed_by    TEXT NOT NULL DEFAULT '',
		claimed_until TIMESTAMPTZ
	);
	CREATE INDEX notifications_due ON notifications(status, next_attempt);`,
	// 6: a certificate's DER as bytes in its own column (store.Item.DER)
	// instead of base64 inside the JSON.
	`ALTER TABLE items ADD COLUMN der BYTEA;`,
	// 7: a row of items is stored whole up to a page (8160 bytes) instead
	// of from 2 KB. A CT sighting with its certificate is ≈2.2 KB: at the
	// default, nearly every one had its DER and data tried for pglz
	// (certificates barely compress) and then moved to the TOAST table, a
	// heap row and an index entry more per item — a third of the server's
	// CPU in a broad CT watch. Rows already written stay as they are.
	`ALTER TABLE items SET (toast_tuple_target = 8160);`,
}

// auditLock is the advisory lock key that serialises audit appenders
// ("keyaudit-audit" folded into 63 bits).
const auditLock int64 = 0x6b61617564697401

// findingsLock is the advisory lock key that serialises UpdateFindings
// callers ("keyaudit-findings" folded into 63 bits).
const findingsLock int64 = 0x6b61666e64696e67

// migrateLock is the advisory lock key that serialises migrations across
// processes ("keyaudi" in ASCII).
const migrateLock int64 = 0x6b657961756469

// versionTable records applied migrations. It is not called
// schema_migrations, which other migration tools create with another
// layout.
const versionTable = "keyaudit_schema_version"

// defaultConnectTimeout is DefaultConnectTimeout; tests shorten it.
var defaultConnectTimeout = DefaultConnectTimeout

// maxRetries bounds how often a write that lost a deadlock or a
// serialisation conflict against another writer is retried.
const maxRetries = 5

// DefaultConnectTimeout bounds connecting to the server (TCP, TLS and
// the startup exchange, per host) when the URL sets no connect_timeout:
// a server that accepts and never answers fails a scheduled job in
// bounded time instead of hanging it. connect_timeout in the URL (or
// $PGCONNECT_TIMEOUT) overrides it; connect_timeout=0 waits forever.
const DefaultConnectTimeout = 10 * time.Second

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn — a postgres:// or
// postgresql:// URL, or a key=value connection string, with pgx's
// parameters (sslmode, pool_max_conns, search_path …) — checks it
// answers and migrates it. Error messages never contain the password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its parse errors; say which URL
		// without it as well.
		return nil, fmt.Errorf("postgres: store %s: %w", Redact(dsn), err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "keyaudit"
	}
	if !strings.Contains(dsn, "connect_timeout") && os.Getenv("PGCONNECT_TIMEOUT") == "" {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: store %s: %w", Redact(dsn), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		if t := cfg.ConnConfig.ConnectTimeout; t > 0 && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("postgres: store %s: no answer within the connect timeout (%s; set connect_timeout in the URL to change it): %w", Redact(dsn), t, err)
		}
		return nil, fmt.Errorf("postgres: store %s: %w", Redact(dsn), err)
	}
	s := &Store{pool: pool, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: store %s: %w", Redact(dsn), err)
	}
	return s, nil
}

// Pool is the store's connection pool, for components that live in the
// same database (the River job queue).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// SchemaVersion returns the store's migration version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+versionTable).Scan(&v)
	return v, err
}

// Migrations is the number of schema versions this keyaudit knows.
func Migrations() int { return len(migrations) }

// migrate applies missing migrations in one transaction under an advisory
// lock: concurrent first starts wait for each other instead of racing to
// create the same tables.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+versionTable+` (version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var have int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+versionTable).Scan(&have); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("migrate: store schema version %d is newer than this keyaudit (%d)", have, len(migrations))
	}
	if have == len(migrations) {
		return nil
	}
	for v := have + 1; v <= len(migrations); v++ {
		// No arguments: pgx sends it with the simple protocol, which
		// allows several statements.
		if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+versionTable+` (version, applied) VALUES ($1, $2)`, v, ts(s.now())); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// ts truncates t to what timestamptz keeps.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// BeginRun implements store.Store. Start and first heartbeat are the
// server's clock, like every lease time, so that hosts whose clocks
// disagree judge leases alike.
func (s *Store) BeginRun(ctx context.Context, spec store.RunSpec) (store.Run, error) {
	meta := []byte("{}")
	if spec.Meta != nil {
		b, err := json.Marshal(spec.Meta)
		if err != nil {
			return store.Run{}, fmt.Errorf("postgres: run meta: %w", err)
		}
		meta = b
	}
	r := store.Run{Kind: spec.Kind, Group: spec.Group, Status: store.StatusRunning, Meta: meta, Holder: spec.Holder}
	err := s.pool.QueryRow(ctx, `INSERT INTO runs (kind, grp, started, heartbeat, status, meta, holder) VALUES ($1, $2, now(), now(), $3, $4, $5) RETURNING id, started`,
		r.Kind, r.Group, string(r.Status), string(meta), r.Holder).Scan(&r.ID, &r.Started)
	if err != nil {
		return store.Run{}, fmt.Errorf("postgres: begin run: %w", err)
	}
	r.Started = r.Started.UTC()
	r.Heartbeat = r.Started
	return r, nil
}

// FinishRun implements store.Store. A run already closed (abandoned by
// another process) is not reopened: the error wraps store.ErrRunClosed.
func (s *Store) FinishRun(ctx context.Context, id int64, status store.RunStatus, note string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE runs SET status = $1, note = $2, ended = now() WHERE id = $3 AND status = $4`,
		string(status), note, id, string(store.StatusRunning))
	if err != nil {
		return fmt.Errorf("postgres: finish run %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.GetRun(ctx, id); err != nil {
			return fmt.Errorf("postgres: finish run %d: %w", id, err)
		}
		return fmt.Errorf("postgres: finish run %d: %w", id, store.ErrRunClosed)
	}
	return nil
}

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE runs SET heartbeat = now() WHERE id = $1 AND status = $2`, id, string(store.StatusRunning))
	if err != nil {
		return fmt.Errorf("postgres: heartbeat run %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: heartbeat run %d: %w", id, store.ErrRunClosed)
	}
	return nil
}

// AbandonStale implements store.Store in one statement, against the
// server's clock. Concurrent callers (and a concurrent Heartbeat) are
// settled by the row locks: a row another transaction changed is
// re-checked, so a run is abandoned once, and never after its lease was
// renewed.
func (s *Store) AbandonStale(ctx context.Context, lease time.Duration) ([]store.Run, error) {
	rows, err := s.pool.Query(ctx, `WITH a AS (
			UPDATE runs SET status = $1, ended = now(),
				note = 'abandoned: holder ' || holder || ' stopped renewing its lease (last heartbeat ' ||
					to_char(heartbeat AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ')'
			WHERE status = $2 AND heartbeat < now() - $3::bigint * interval '1 microsecond'
			RETURNING `+runCols+`
		) SELECT * FROM a ORDER BY id`,
		string(store.StatusAbandoned), string(store.StatusRunning), lease.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: abandon stale runs: %w", err)
	}
	defer rows.Close()
	var out []store.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: abandon stale runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: abandon stale runs: %w", err)
	}
	return out, nil
}

const runCols = `id, kind, grp, started, ended, status, note, meta::text AS meta, holder, heartbeat`

func scanRun(row pgx.Row) (store.Run, error) {
	var r store.Run
	var ended, hb *time.Time
	var status, meta string
	if err := row.Scan(&r.ID, &r.Kind, &r.Group, &r.Started, &ended, &status, &r.Note, &meta, &r.Holder, &hb); err != nil {
		return r, err
	}
	r.Started = r.Started.UTC()
	if ended != nil {
		r.Ended = ended.UTC()
	}
	if hb != nil {
		r.Heartbeat = hb.UTC()
	}
	r.Status, r.Meta = store.RunStatus(status), json.RawMessage(meta)
	return r, nil
}

// GetRun implements store.Store.
func (s *Store) GetRun(ctx context.Context, id int64) (store.Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("postgres: run %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("postgres: run %d: %w", id, err)
	}
	return r, nil
}

// Runs implements store.Store.
func (s *Store) Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	q := `SELECT ` + runCols + ` FROM runs WHERE true`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Kind != "" {
		q += ` AND kind = ` + arg(f.Kind)
	}
	if f.Group != "" {
		q += ` AND grp = ` + arg(f.Group)
	}
	if len(f.Status) > 0 {
		st := make([]string, len(f.Status))
		for i, x := range f.Status {
			st[i] = string(x)
		}
		q += ` AND status = ANY(` + arg(st) + `)`
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ` + arg(f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list runs: %w", err)
	}
	defer rows.Close()
	var out []store.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list runs: %w", err)
	}
	return out, nil
}

// upsertItems writes a batch in one statement. Rows are numbered so that
// identity values (seq, the read order) follow the batch order.
const upsertItems = `INSERT INTO items (run_id, kind, key, spki, cert, data, der)
	SELECT $1, t.kind, t.key, t.spki, t.cert, t.data, t.der
	FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[]) WITH ORDINALITY AS t (kind, key, spki, cert, data, der, ord)
	ORDER BY t.ord
	ON CONFLICT (run_id, kind, key) DO UPDATE SET spki = EXCLUDED.spki, cert = EXCLUDED.cert, data = EXCLUDED.data, der = EXCLUDED.der`

// columns turns items into the statement's arrays. A key repeated within
// the batch keeps its first position and its last value, exactly what
// one upsert per item in order gives (PostgreSQL refuses to touch a row
// twice in one statement).
func columns(items []store.Item) (kinds, keys, spkis, certs, datas []string, ders [][]byte, err error) {
	type kk struct{ kind, key string }
	var at map[kk]int
	for _, it := range items {
		if it.Kind == "" {
			return nil, nil, nil, nil, nil, nil, errors.New("item without kind")
		}
		if at == nil {
			at = make(map[kk]int, len(items))
		}
		if i, ok := at[kk{it.Kind, it.Key}]; ok {
			spkis[i], certs[i], datas[i], ders[i] = it.SPKISHA256, it.CertSHA256, string(it.Data), nilIfEmpty(it.DER)
			continue
		}
		at[kk{it.Kind, it.Key}] = len(kinds)
		kinds, keys = append(kinds, it.Kind), append(keys, it.Key)
		spkis, certs, datas = append(spkis, it.SPKISHA256), append(certs, it.CertSHA256), append(datas, string(it.Data))
		ders = append(ders, nilIfEmpty(it.DER))
	}
	return kinds, keys, spkis, certs, datas, ders, nil
}

// nilIfEmpty stores an item without DER as NULL.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// putChunk is the most items one statement writes. A CT commit holds up
// to 4,096 sightings of ≈2.5 KB: as one statement, the driver grew a
// buffer per array and then a message of ≈10 MB, several copies of the
// batch at once (a broad watch peaked near 200 MiB). A key repeated in
// two chunks is updated in place by the later one, as one upsert per item
// would.
const putChunk = 256

func putTx(ctx context.Context, tx pgx.Tx, runID int64, items []store.Item) error {
	for len(items) > 0 {
		n := min(len(items), putChunk)
		kinds, keys, spkis, certs, datas, ders, err := columns(items[:n])
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, upsertItems, runID, kinds, keys, spkis, certs, datas, ders); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// inTx runs fn in a transaction, retrying when PostgreSQL aborted it to
// resolve a deadlock or serialisation conflict with another writer.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || attempt >= maxRetries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40P01" || pe.Code == "40001" // deadlock_detected, serialization_failure
	}
	return false
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, runID int64, items ...store.Item) error {
	if len(items) == 0 {
		return nil
	}
	if err := s.inTx(ctx, func(tx pgx.Tx) error { return putTx(ctx, tx, runID, items) }); err != nil {
		return fmt.Errorf("postgres: put run %d: %w", runID, err)
	}
	return nil
}

// itemsPage is how many items Items reads per round trip: memory holds
// one page, whatever the run's size.
const itemsPage = 1000

// Items implements store.Store. Pages are read by seq (keyset, through
// the run/kind/seq index) in one read-only repeatable-read transaction,
// so the items come from one snapshot, as from a single query, and a
// callback that stops early costs nothing more.
func (s *Store) Items(ctx context.Context, runID int64, kind string, fn func(store.Item) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: items: %w", err)
	}
	defer tx.Rollback(ctx)
	page := make([]store.Item, 0, itemsPage)
	var after int64
	for {
		page = page[:0]
		rows, err := tx.Query(ctx, `SELECT seq, kind, key, spki, cert, data, der FROM items
			WHERE run_id = $1 AND kind = $2 AND seq > $3 ORDER BY seq LIMIT $4`, runID, kind, after, itemsPage)
		if err != nil {
			return fmt.Errorf("postgres: items: %w", err)
		}
		for rows.Next() {
			var it store.Item
			var data string
			if err := rows.Scan(&after, &it.Kind, &it.Key, &it.SPKISHA256, &it.CertSHA256, &data, &it.DER); err != nil {
				rows.Close()
				return fmt.Errorf("postgres: items: %w", err)
			}
			it.Data = json.RawMessage(data)
			page = append(page, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: items: %w", err)
		}
		for _, it := range page {
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(page) < itemsPage {
			return nil
		}
	}
}

// KindItems implements store.Store. Like Items it reads in keyset pages
// (through the kind/key/run/seq index) in one read-only repeatable-read
// transaction: one snapshot, memory bounded by a page. Keys are ordered
// bytewise, as on SQLite.
func (s *Store) KindItems(ctx context.Context, kind string, statuses []store.RunStatus, fn func(int64, store.Item) error) error {
	if len(statuses) == 0 {
		return errors.New("postgres: kind items: no statuses")
	}
	st := make([]string, len(statuses))
	for i, x := range statuses {
		st[i] = string(x)
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: %s items: %w", kind, err)
	}
	defer tx.Rollback(ctx)
	type row struct {
		runID int64
		it    store.Item
	}
	page := make([]row, 0, itemsPage)
	const key = `i.key COLLATE "C"`
	var afterKey string
	var afterRun, afterSeq int64
	first := true
	for {
		page = page[:0]
		q := `SELECT i.seq, i.run_id, i.kind, i.key, i.spki, i.cert, i.data, i.der FROM items i JOIN runs r ON r.id = i.run_id
			WHERE i.kind = $1 AND r.status = ANY($2)`
		args := []any{kind, st, itemsPage}
		if !first {
			q += ` AND (` + key + `, i.run_id, i.seq) > ($4, $5, $6)`
			args = append(args, afterKey, afterRun, afterSeq)
		}
		q += ` ORDER BY ` + key + `, i.run_id, i.seq LIMIT $3`
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("postgres: %s items: %w", kind, err)
		}
		for rows.Next() {
			var r row
			var data string
			if err := rows.Scan(&afterSeq, &r.runID, &r.it.Kind, &r.it.Key, &r.it.SPKISHA256, &r.it.CertSHA256, &data, &r.it.DER); err != nil {
				rows.Close()
				return fmt.Errorf("postgres: %s items: %w", kind, err)
			}
			r.it.Data = json.RawMessage(data)
			afterKey, afterRun = r.it.Key, r.runID
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: %s items: %w", kind, err)
		}
		first = false
		for _, r := range page {
			if err := fn(r.runID, r.it); err != nil {
				return err
			}
		}
		if len(page) < itemsPage {
			return nil
		}
	}
}

// Count implements store.Store.
func (s *Store) Count(ctx context.Context, runID int64, kind string) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM items WHERE run_id = $1 AND kind = $2`, runID, kind).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count: %w", err)
	}
	return n, nil
}

// Cursor implements store.Store.
func (s *Store) Cursor(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM cursors WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: cursor %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: cursor %q: %w", name, err)
	}
	return v, nil
}

// Advance implements store.Store: the items and the cursor commit in one
// transaction.
func (s *Store) Advance(ctx context.Context, runID int64, name string, value []byte, items ...store.Item) error {
	if value == nil {
		value = []byte{}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := putTx(ctx, tx, runID, items); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO cursors (name, value, run_id, updated) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, run_id = EXCLUDED.run_id, updated = EXCLUDED.updated`,
			name, value, runID, ts(s.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: advance %q: %w", name, err)
	}
	return nil
}

// AppendAudit implements store.Store. A transaction-scoped advisory
// lock serialises appenders (in every process) from the read of the last
// entry to the commit, so the chain cannot fork; the ID is drawn from the
// identity sequence under the lock, so ID order is chain order.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	in := e
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		e = in
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLock); err != nil {
			return err
		}
		var prev string
		err := tx.QueryRow(ctx, `SELECT hash FROM audit ORDER BY id DESC LIMIT 1`).Scan(&prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('audit', 'id'))`).Scan(&e.ID); err != nil {
			return err
		}
		if e, err = store.ChainEntry(prev, e); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit (id, time, actor, action, target, detail, prev_hash, hash) OVERRIDING SYSTEM VALUE
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.ID, e.Time, e.Actor, e.Action, e.Target, string(e.Detail), e.PrevHash, e.Hash)
		return err
	})
	if err != nil {
		return e, fmt.Errorf("postgres: audit: %w", err)
	}
	return e, nil
}

// Audit implements store.Store.
func (s *Store) Audit(ctx context.Context, fn func(store.AuditEntry) error) error {
	rows, err := s.pool.Query(ctx, `SELECT id, time, actor, action, target, detail, prev_hash, hash FROM audit ORDER BY id`)
	if err != nil {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e store.AuditEntry
		var d string
		if err := rows.Scan(&e.ID, &e.Time, &e.Actor, &e.Action, &e.Target, &d, &e.PrevHash, &e.Hash); err != nil {
			return fmt.Errorf("postgres: audit: %w", err)
		}
		e.Time, e.Detail = e.Time.UTC(), json.RawMessage(d)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// kvPassword matches the secret settings of a key=value connection
// string: password and sslpassword (the client key's passphrase).
var kvPassword = regexp.MustCompile(`(?i)((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// urlScheme matches what may precede "://" in a connection URL.
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// secretParam reports whether a URL query parameter holds a secret.
func secretParam(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "sslpassword"
}

// Redact hides the password (and sslpassword) of a PostgreSQL URL or
// key=value connection string, for messages and logs.
func Redact(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 && urlScheme.MatchString(dsn[:i]) {
		u, err := url.Parse(dsn)
		if err != nil {
			// Unparseable: where a password would be cannot be told
			// reliably, so keep only the scheme, and the host and path
			// after the last '@' when that '@' ends the user info (no
			// query before it). A query may hold a password: dropped.
			scheme, rest := dsn[:i+3], dsn[i+3:]
			if at := strings.LastIndex(rest, "@"); at >= 0 && !strings.Contains(rest[:at], "?") {
				tail, _, _ := strings.Cut(rest[at:], "?")
				return scheme + "***" + tail
			}
			return scheme + "***"
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			// A pair that does not parse may still hold a password:
			// drop the whole query.
			u.RawQuery, u.ForceQuery = "", false
			return u.Redacted() + "?***"
		}
		changed := false
		for k := range q {
			if secretParam(k) {
				q[k] = []string{"xxxxx"}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// LatestItems implements store.Store: one read-only snapshot; the
// ranking reads the (kind, key, run_id, seq) index, the records of the
// rows kept are then fetched by seq. Keys sort byte by byte, as on SQLite.
func (s *Store) LatestItems(ctx context.Context, runKind, kind string, statuses []store.RunStatus, n int, fn func(int64, int64, store.Item) error) error {
	if len(statuses) == 0 || n <= 0 {
		return errors.New("postgres: latest items: no statuses or no count")
	}
	st := make([]string, len(statuses))
	for i, x := range statuses {
		st[i] = string(x)
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: latest %s items: %w", kind, err)
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `WITH ranked AS (
		SELECT i.seq, MIN(i.run_id) OVER (PARTITION BY i.key) AS first_run,
			ROW_NUMBER() OVER (PARTITION BY i.key ORDER BY i.run_id DESC, i.seq DESC) AS rn
		FROM items i JOIN runs r ON r.id = i.run_id
		WHERE i.kind = $1 AND r.status = ANY($2) AND r.kind = $4)
	SELECT it.run_id, ranked.first_run, it.kind, it.key, it.spki, it.cert, it.data, it.der
	FROM ranked JOIN items it ON it.seq = ranked.seq
	WHERE ranked.rn <= $3 ORDER BY it.key COLLATE "C", it.run_id, it.seq`, kind, st, n, runKind)
	if err != nil {
		return fmt.Errorf("postgres: latest %s items: %w", kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		var it store.Item
		var runID, first int64
		var data string
		if err := rows.Scan(&runID, &first, &it.Kind, &it.Key, &it.SPKISHA256, &it.CertSHA256, &data, &it.DER); err != nil {
			return fmt.Errorf("postgres: latest %s items: %w", kind, err)
		}
		it.Data = json.RawMessage(data)
		if err := fn(runID, first, it); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: latest %s items: %w", kind, err)
	}
	return tx.Commit(ctx)
}
