package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/keyaudit/keyaudit/store"
)

const findingCols = `fingerprint, check_id, severity, state, first_seen, last_seen, since, run_id, data, evidence`

func scanFinding(row interface{ Scan(...any) error }) (store.FindingRecord, error) {
	var f store.FindingRecord
	var first, last, since, data, ev string
	if err := row.Scan(&f.Fingerprint, &f.Check, &f.Severity, &f.State, &first, &last, &since, &f.RunID, &data, &ev); err != nil {
		return f, err
	}
	f.FirstSeen, f.LastSeen, f.Since = parseTS(first), parseTS(last), parseTS(since)
	f.Data, f.Evidence = json.RawMessage(data), json.RawMessage(ev)
	return f, nil
}

func nonEmptyJSON(b json.RawMessage) string {
	if len(b) == 0 {
		return "{}"
	}
	return string(b)
}

// Findings implements store.Store.
func (s *Store) Findings(ctx context.Context, f store.FindingFilter, fn func(store.FindingRecord) error) error {
	q := `SELECT ` + findingCols + ` FROM findings WHERE 1=1`
	var args []any
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, f.State)
	}
	if f.Check != "" {
		q += ` AND check_id = ?`
		args = append(args, f.Check)
	}
	if f.ChangedBy != 0 {
		q += ` AND run_id = ?`
		args = append(args, f.ChangedBy)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY fingerprint`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: findings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanFinding(rows)
		if err != nil {
			return fmt.Errorf("sqlite: findings: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// FindingEvents implements store.Store.
func (s *Store) FindingEvents(ctx context.Context, fingerprint string, fn func(store.FindingEvent) error) error {
	q, args := `SELECT id, fingerprint, time, run_id, event, evidence FROM finding_events`, []any{}
	if fingerprint != "" {
		q += ` WHERE fingerprint = ?`
		args = append(args, fingerprint)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: finding events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e store.FindingEvent
		var t, ev string
		if err := rows.Scan(&e.ID, &e.Fingerprint, &t, &e.RunID, &e.Event, &ev); err != nil {
			return fmt.Errorf("sqlite: finding events: %w", err)
		}
		e.Time, e.Evidence = parseTS(t), json.RawMessage(ev)
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// UpdateFindings implements store.Store. The transaction is BEGIN
// IMMEDIATE: it holds the write lock from the read to the commit.
func (s *Store) UpdateFindings(ctx context.Context, checks []string, fn func(map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error)) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: update findings: %w", err)
	}
	defer tx.Rollback()
	q, args := `SELECT `+findingCols+` FROM findings`, []any{}
	if len(checks) > 0 {
		q += ` WHERE check_id IN (?` + strings.Repeat(`, ?`, len(checks)-1) + `)`
		for _, c := range checks {
			args = append(args, c)
		}
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: update findings: %w", err)
	}
	cur := map[string]store.FindingRecord{}
	for rows.Next() {
		r, err := scanFinding(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: update findings: %w", err)
		}
		cur[r.Fingerprint] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: update findings: %w", err)
	}
	recs, events, err := fn(cur)
	if err != nil {
		return err
	}
	up, err := tx.PrepareContext(ctx, `INSERT INTO findings(`+findingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(fingerprint) DO UPDATE SET check_id = excluded.check_id, severity = excluded.severity, state = excluded.state,
		first_seen = excluded.first_seen, last_seen = excluded.last_seen, since = excluded.since, run_id = excluded.run_id,
		data = excluded.data, evidence = excluded.evidence`)
	if err != nil {
		return fmt.Errorf("sqlite: update findings: %w", err)
	}
	defer up.Close()
	for _, r := range recs {
		if _, err := up.ExecContext(ctx, r.Fingerprint, r.Check, r.Severity, r.State, ts(r.FirstSeen), ts(r.LastSeen), ts(r.Since), r.RunID, nonEmptyJSON(r.Data), nonEmptyJSON(r.Evidence)); err != nil {
			return fmt.Errorf("sqlite: update finding %s: %w", r.Fingerprint, err)
		}
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO finding_events(fingerprint, time, run_id, event, evidence) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("sqlite: update findings: %w", err)
	}
	defer ins.Close()
	for _, e := range events {
		if _, err := ins.ExecContext(ctx, e.Fingerprint, ts(e.Time), e.RunID, e.Event, nonEmptyJSON(e.Evidence)); err != nil {
			return fmt.Errorf("sqlite: finding event %s: %w", e.Fingerprint, err)
		}
		if _, err := enqueue(ctx, tx, e.Notify); err != nil {
			return fmt.Errorf("sqlite: finding event %s: %w", e.Fingerprint, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: update findings: %w", err)
	}
	return nil
}
