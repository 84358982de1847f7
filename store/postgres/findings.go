package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyaudit/keyaudit/store"
)

const findingCols = `fingerprint, check_id, severity, state, first_seen, last_seen, since, run_id, data, evidence`

func scanFinding(row pgx.Row) (store.FindingRecord, error) {
	var f store.FindingRecord
	var data, ev string
	if err := row.Scan(&f.Fingerprint, &f.Check, &f.Severity, &f.State, &f.FirstSeen, &f.LastSeen, &f.Since, &f.RunID, &data, &ev); err != nil {
		return f, err
	}
	f.FirstSeen, f.LastSeen, f.Since = utc(f.FirstSeen), utc(f.LastSeen), utc(f.Since)
	f.Data, f.Evidence = json.RawMessage(data), json.RawMessage(ev)
	return f, nil
}

// utc returns t in UTC, and the zero time as the zero time.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// nonEmptyJSON is what an empty Data or Evidence is stored as.
func nonEmptyJSON(b json.RawMessage) string {
	if len(b) == 0 {
		return "{}"
	}
	return string(b)
}

// Findings implements store.Store, ordered by fingerprint (bytewise).
func (s *Store) Findings(ctx context.Context, f store.FindingFilter, fn func(store.FindingRecord) error) error {
	q := `SELECT ` + findingCols + ` FROM findings WHERE true`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.State != "" {
		q += ` AND state = ` + arg(f.State)
	}
	if f.Check != "" {
		q += ` AND check_id = ` + arg(f.Check)
	}
	if f.ChangedBy != 0 {
		q += ` AND run_id = ` + arg(f.ChangedBy)
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY fingerprint`, args...)
	if err != nil {
		return fmt.Errorf("postgres: findings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanFinding(rows)
		if err != nil {
			return fmt.Errorf("postgres: findings: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: findings: %w", err)
	}
	return nil
}

// FindingEvents implements store.Store.
func (s *Store) FindingEvents(ctx context.Context, fingerprint string, fn func(store.FindingEvent) error) error {
	q, args := `SELECT id, fingerprint, time, run_id, event, evidence FROM finding_events`, []any{}
	if fingerprint != "" {
		q += ` WHERE fingerprint = $1`
		args = append(args, fingerprint)
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("postgres: finding events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e store.FindingEvent
		var ev string
		if err := rows.Scan(&e.ID, &e.Fingerprint, &e.Time, &e.RunID, &e.Event, &ev); err != nil {
			return fmt.Errorf("postgres: finding events: %w", err)
		}
		e.Time, e.Evidence = utc(e.Time), json.RawMessage(ev)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: finding events: %w", err)
	}
	return nil
}

const upsertFinding = `INSERT INTO findings (` + findingCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
	ON CONFLICT (fingerprint) DO UPDATE SET check_id = EXCLUDED.check_id, severity = EXCLUDED.severity, state = EXCLUDED.state,
	first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, since = EXCLUDED.since, run_id = EXCLUDED.run_id,
	data = EXCLUDED.data, evidence = EXCLUDED.evidence`

// UpdateFindings implements store.Store. The transaction takes a
// transaction-scoped advisory lock before it reads, so callers in every
// process run one after the other, each reading (READ COMMITTED, a fresh
// snapshot per statement) what the one before it committed. fn is called
// again when PostgreSQL aborts the transaction to resolve a deadlock or
// serialisation conflict.
func (s *Store) UpdateFindings(ctx context.Context, checks []string, fn func(map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error)) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, findingsLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		q, args := `SELECT `+findingCols+` FROM findings`, []any{}
		if len(checks) > 0 {
			q += ` WHERE check_id = ANY($1)`
			args = append(args, checks)
		}
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		cur := map[string]store.FindingRecord{}
		for rows.Next() {
			r, err := scanFinding(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("read: %w", err)
			}
			cur[r.Fingerprint] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		recs, events, err := fn(cur)
		if err != nil {
			return err
		}
		if len(recs) == 0 && len(events) == 0 {
			return nil
		}
		var b pgx.Batch
		for _, r := range recs {
			b.Queue(upsertFinding, r.Fingerprint, r.Check, r.Severity, r.State, ts(r.FirstSeen), ts(r.LastSeen), ts(r.Since),
				r.RunID, nonEmptyJSON(r.Data), nonEmptyJSON(r.Evidence))
		}
		var notes []store.Notification
		for _, e := range events {
			b.Queue(`INSERT INTO finding_events (fingerprint, time, run_id, event, evidence) VALUES ($1, $2, $3, $4, $5)`,
				e.Fingerprint, ts(e.Time), e.RunID, e.Event, nonEmptyJSON(e.Evidence))
			notes = append(notes, e.Notify...)
		}
		br := tx.SendBatch(ctx, &b)
		for i := range b.Len() {
			if _, err := br.Exec(); err != nil {
				br.Close()
				if i < len(recs) {
					return fmt.Errorf("finding %s: %w", recs[i].Fingerprint, err)
				}
				return fmt.Errorf("finding event %s: %w", events[i-len(recs)].Fingerprint, err)
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		_, err = enqueue(ctx, tx, notes)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: update findings: %w", err)
	}
	return nil
}
