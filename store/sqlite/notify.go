package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/store"
)

// fts is the fixed-width UTC text form of the outbox's times: unlike
// RFC 3339 with trimmed fractions, it orders as a string.
func fts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

const notificationCols = `id, key, route, sink, event, fingerprint, owner, payload, created, status, attempts, next_attempt, last_error, sent_at`

func scanNotification(row interface{ Scan(...any) error }) (store.Notification, error) {
	var n store.Notification
	var payload, created, next, sent string
	if err := row.Scan(&n.ID, &n.Key, &n.Route, &n.Sink, &n.Event, &n.Fingerprint, &n.Owner, &payload, &created, &n.Status, &n.Attempts, &next, &n.LastError, &sent); err != nil {
		return n, err
	}
	n.Payload, n.Created, n.NextAttempt, n.SentAt = json.RawMessage(payload), parseTS(created), parseTS(next), parseTS(sent)
	return n, nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// enqueue inserts ns, leaving a key the store holds already as it is.
func enqueue(ctx context.Context, db execer, ns []store.Notification) (int, error) {
	added := 0
	for _, n := range ns {
		status := n.Status
		if status == "" {
			status = store.NotificationPending
		}
		next := n.NextAttempt
		if next.IsZero() {
			next = n.Created
		}
		res, err := db.ExecContext(ctx, `INSERT INTO notifications (key, route, sink, event, fingerprint, owner, payload, created, status, next_attempt)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING`,
			n.Key, n.Route, n.Sink, n.Event, n.Fingerprint, n.Owner, nonEmptyJSON(n.Payload), fts(n.Created), status, fts(next))
		if err != nil {
			return added, fmt.Errorf("notification %s: %w", n.Key, err)
		}
		if k, _ := res.RowsAffected(); k > 0 {
			added++
		}
	}
	return added, nil
}

// EnqueueNotifications implements store.Store.
func (s *Store) EnqueueNotifications(ctx context.Context, ns []store.Notification) (int, error) {
	if len(ns) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: enqueue notifications: %w", err)
	}
	defer tx.Rollback()
	n, err := enqueue(ctx, tx, ns)
	if err != nil {
		return 0, fmt.Errorf("sqlite: enqueue: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: enqueue notifications: %w", err)
	}
	return n, nil
}

// ClaimNotifications implements store.Store: one immediate transaction
// selects and leases, so two senders never claim one notification.
func (s *Store) ClaimNotifications(ctx context.Context, holder string, now time.Time, lease time.Duration, limit int) ([]store.Notification, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim notifications: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+notificationCols+` FROM notifications
		WHERE status = ? AND next_attempt <= ? AND (claimed_until = '' OR claimed_until <= ?) ORDER BY id LIMIT ?`,
		store.NotificationPending, fts(now), fts(now), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim notifications: %w", err)
	}
	var out []store.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: claim notifications: %w", err)
		}
		out = append(out, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: claim notifications: %w", err)
	}
	for _, n := range out {
		if _, err := tx.ExecContext(ctx, `UPDATE notifications SET claimed_by = ?, claimed_until = ? WHERE id = ?`, holder, fts(now.Add(lease)), n.ID); err != nil {
			return nil, fmt.Errorf("sqlite: claim notification %d: %w", n.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: claim notifications: %w", err)
	}
	return out, nil
}

// FinishNotification implements store.Store.
func (s *Store) FinishNotification(ctx context.Context, id int64, sent bool, errMsg string, at, next time.Time) error {
	q, args := `UPDATE notifications SET attempts = attempts + 1, claimed_by = '', claimed_until = '', last_error = ?, next_attempt = ? WHERE id = ?`,
		[]any{errMsg, fts(next), id}
	if sent {
		q, args = `UPDATE notifications SET attempts = attempts + 1, claimed_by = '', claimed_until = '', status = ?, sent_at = ?, last_error = '' WHERE id = ?`,
			[]any{store.NotificationSent, fts(at), id}
	}
	if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("sqlite: notification %d: %w", id, err)
	}
	return nil
}

// Notifications implements store.Store.
func (s *Store) Notifications(ctx context.Context, f store.NotificationFilter, fn func(store.Notification) error) error {
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.Route != "" {
		where, args = append(where, "route = ?"), append(args, f.Route)
	}
	if f.MinAttempts > 0 {
		where, args = append(where, "attempts >= ?"), append(args, f.MinAttempts)
	}
	q := `SELECT ` + notificationCols + ` FROM notifications`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: notifications: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return fmt.Errorf("sqlite: notifications: %w", err)
		}
		if err := fn(n); err != nil {
			return err
		}
	}
	return rows.Err()
}
