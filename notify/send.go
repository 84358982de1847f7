package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/keyaudit/keyaudit/internal/failpoint"
	"github.com/keyaudit/keyaudit/store"
)

// Retry backoff: 30 s doubled per failed attempt, at most an hour, with
// jitter.
const (
	firstRetry = 30 * time.Second
	maxRetry   = time.Hour
	// DefaultLease is how long a sender holds the notification it sends:
	// longer than one delivery (sinks time out after 30 s by default).
	DefaultLease = 2 * time.Minute
)

// Backoff is the wait before attempt n+1 after n failed attempts.
func Backoff(n int) time.Duration {
	d := firstRetry
	for i := 1; i < n && d < maxRetry; i++ {
		d *= 2
	}
	d = min(d, maxRetry)
	return d - time.Duration(rand.Int64N(int64(d/5)+1)) // up to 20% earlier, so senders spread out
}

// Sender drains the outbox.
type Sender struct {
	Router    *Router
	Deliverer *Deliverer
	// Holder names this sender in the store's leases (default host:pid).
	Holder string
	Lease  time.Duration
	Now    func() time.Time
	Log    *slog.Logger
}

// Result is what one Drain did.
type Result struct {
	Sent   int `json:"sent"`
	Failed int `json:"failed"`
	// Errors are the failed deliveries, one line each (no secret: sinks
	// name hosts, never credentials or webhook paths).
	Errors []string `json:"errors,omitempty"`
}

func (s *Sender) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Drain sends every notification due now, once each: it claims one,
// delivers it, and records the outcome — sent, or failed with its next
// attempt pushed back — until nothing is due. A notification that fails
// is not retried within the same Drain.
func (s *Sender) Drain(ctx context.Context, st store.Store) (Result, error) {
	var res Result
	holder := s.Holder
	if holder == "" {
		h, _ := os.Hostname()
		holder = fmt.Sprintf("%s:%d", h, os.Getpid())
	}
	lease := s.Lease
	if lease <= 0 {
		lease = s.Router.Lease()
	}
	d := s.Deliverer
	if d == nil {
		d = &Deliverer{}
	}
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := s.Router.EnqueueDigests(ctx, st, s.now()); err != nil {
		return res, fmt.Errorf("daily digests: %w", err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		// One at a time: a lease covers one delivery, so a sender that
		// dies holds up one notification, and one that is slow never sees
		// its other claims expire and go to another sender.
		batch, err := st.ClaimNotifications(ctx, holder, s.now(), lease, 1)
		if err != nil {
			return res, err
		}
		if len(batch) == 0 {
			return res, nil
		}
		for _, n := range batch {
			failpoint.Hit("notify-before-send")
			err := s.deliver(ctx, d, n)
			failpoint.Hit("notify-after-send")
			now := s.now()
			// The outcome is recorded even when ctx ends: a message sent
			// and not marked would be sent again.
			wctx := context.WithoutCancel(ctx)
			if err == nil {
				res.Sent++
				log.Info("notification sent", "route", n.Route, "sink", n.Sink, "event", n.Event, "key", n.Key)
				if ferr := st.FinishNotification(wctx, n.ID, true, "", now, time.Time{}); ferr != nil {
					return res, ferr
				}
				continue
			}
			res.Failed++
			msg := fmt.Sprintf("%s/%s %s: %v", n.Route, n.Sink, n.Event, err)
			res.Errors = append(res.Errors, msg)
			log.Warn("notification failed", "route", n.Route, "sink", n.Sink, "key", n.Key, "attempt", n.Attempts+1, "error", err.Error())
			if ferr := st.FinishNotification(wctx, n.ID, false, err.Error(), now, now.Add(Backoff(n.Attempts+1))); ferr != nil {
				return res, ferr
			}
		}
	}
}

func (s *Sender) deliver(ctx context.Context, d *Deliverer, n store.Notification) error {
	sink, ok := s.Router.Sink(n.Sink)
	if !ok {
		return fmt.Errorf("sink %q is no longer configured", n.Sink)
	}
	var p Payload
	if err := json.Unmarshal(n.Payload, &p); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	if p.ID != n.Key {
		return errors.New("payload and outbox disagree on the idempotency key")
	}
	return d.Deliver(ctx, sink, p, n.Payload)
}
