package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyaudit/keyaudit/store"
)

const notificationCols = `id, key, route, sink, event, fingerprint, owner, payload, created, status, attempts, next_attempt, last_error, sent_at`

func scanNotification(row pgx.Row) (store.Notification, error) {
	var n store.Notification
	var payload string
	var sent *time.Time
	if err := row.Scan(&n.ID, &n.Key, &n.Route, &n.Sink, &n.Event, &n.Fingerprint, &n.Owner, &payload, &n.Created, &n.Status, &n.Attempts, &n.NextAttempt, &n.LastError, &sent); err != nil {
		return n, err
	}
	n.Payload, n.Created, n.NextAttempt = json.RawMessage(payload), utc(n.Created), utc(n.NextAttempt)
	if sent != nil {
		n.SentAt = utc(*sent)
	}
	return n, nil
}

// enqueue inserts ns in tx, leaving a key the store holds already as it
// is.
func enqueue(ctx context.Context, tx pgx.Tx, ns []store.Notification) (int, error) {
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
		tag, err := tx.Exec(ctx, `INSERT INTO notifications (key, route, sink, event, fingerprint, owner, payload, created, status, next_attempt)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (key) DO NOTHING`,
			n.Key, n.Route, n.Sink, n.Event, n.Fingerprint, n.Owner, nonEmptyJSON(n.Payload), ts(n.Created), status, ts(next))
		if err != nil {
			return added, fmt.Errorf("notification %s: %w", n.Key, err)
		}
		added += int(tag.RowsAffected())
	}
	return added, nil
}

// EnqueueNotifications implements store.Store.
func (s *Store) EnqueueNotifications(ctx context.Context, ns []store.Notification) (int, error) {
	if len(ns) == 0 {
		return 0, nil
	}
	var added int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		added, err = enqueue(ctx, tx, ns)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: enqueue notifications: %w", err)
	}
	return added, nil
}

// ClaimNotifications implements store.Store: FOR UPDATE SKIP LOCKED lets
// concurrent senders each lease different notifications.
func (s *Store) ClaimNotifications(ctx context.Context, holder string, now time.Time, lease time.Duration, limit int) ([]store.Notification, error) {
	var out []store.Notification
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, `UPDATE notifications SET claimed_by = $1, claimed_until = $2 WHERE id IN (
			SELECT id FROM notifications WHERE status = $3 AND next_attempt <= $4 AND (claimed_until IS NULL OR claimed_until <= $4)
			ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED) RETURNING `+notificationCols,
			holder, ts(now.Add(lease)), store.NotificationPending, ts(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim notifications: %w", err)
	}
	slices.SortFunc(out, func(a, b store.Notification) int { return cmp.Compare(a.ID, b.ID) }) // RETURNING has no order
	return out, nil
}

// FinishNotification implements store.Store.
func (s *Store) FinishNotification(ctx context.Context, id int64, sent bool, errMsg string, at, next time.Time) error {
	var err error
	if sent {
		_, err = s.pool.Exec(ctx, `UPDATE notifications SET attempts = attempts + 1, claimed_by = '', claimed_until = NULL, status = $1, sent_at = $2, last_error = '' WHERE id = $3`,
			store.NotificationSent, ts(at), id)
	} else {
		_, err = s.pool.Exec(ctx, `UPDATE notifications SET attempts = attempts + 1, claimed_by = '', claimed_until = NULL, last_error = $1, next_attempt = $2 WHERE id = $3`,
			errMsg, ts(next), id)
	}
	if err != nil {
		return fmt.Errorf("postgres: notification %d: %w", id, err)
	}
	return nil
}

// Notifications implements store.Store.
func (s *Store) Notifications(ctx context.Context, f store.NotificationFilter, fn func(store.Notification) error) error {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(f.Status))
	}
	if f.Route != "" {
		where = append(where, "route = "+arg(f.Route))
	}
	if f.MinAttempts > 0 {
		where = append(where, "attempts >= "+arg(f.MinAttempts))
	}
	q := `SELECT ` + notificationCols + ` FROM notifications`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("postgres: notifications: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return fmt.Errorf("postgres: notifications: %w", err)
		}
		if err := fn(n); err != nil {
			return err
		}
	}
	return rows.Err()
}
