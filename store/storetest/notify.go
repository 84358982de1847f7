package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/store"
)

// runNotifications registers the tests of the notification outbox.
func runNotifications(t *testing.T, open func(t *testing.T) store.Store, o options) {
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, open(t)) })
	t.Run("OutboxWithFindings", func(t *testing.T) { testOutboxWithFindings(t, open(t)) })
	t.Run("OutboxConcurrentClaims", func(t *testing.T) {
		s := open(t)
		h := s
		if o.again != nil {
			h = o.again(t, s)
		}
		testOutboxClaims(t, s, h)
	})
}

var outboxT0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

func note(key string) store.Notification {
	return store.Notification{Key: key, Route: "web", Sink: "hook", Event: "opened", Fingerprint: "fp-" + key, Owner: "team-web",
		Payload: json.RawMessage(`{"k":"` + key + `"}`), Created: outboxT0}
}

func keysOf(ns []store.Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Key)
	}
	return out
}

func testOutbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	n, err := s.EnqueueNotifications(ctx, []store.Notification{note("a"), note("b"), note("c")})
	if err != nil || n != 3 {
		t.Fatalf("enqueue: %d %v", n, err)
	}
	// The same keys again add nothing and change nothing.
	again := note("a")
	again.Payload = json.RawMessage(`{"changed":true}`)
	if n, err := s.EnqueueNotifications(ctx, []store.Notification{again, note("d")}); err != nil || n != 1 {
		t.Fatalf("enqueue again: %d %v", n, err)
	}
	got, err := s.ClaimNotifications(ctx, "w1", outboxT0, time.Minute, 2)
	if err != nil || fmt.Sprint(keysOf(got)) != "[a b]" || string(got[0].Payload) != `{"k":"a"}` || got[0].Owner != "team-web" || !got[0].Created.Equal(outboxT0) {
		t.Fatalf("claim: %+v %v", got, err)
	}
	// Leased: another holder gets the rest, then nothing.
	if got, _ := s.ClaimNotifications(ctx, "w2", outboxT0, time.Minute, 10); fmt.Sprint(keysOf(got)) != "[c d]" {
		t.Fatalf("second claim: %v", keysOf(got))
	}
	if got, _ := s.ClaimNotifications(ctx, "w2", outboxT0.Add(30*time.Second), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed while leased: %v", keysOf(got))
	}
	ids := map[string]int64{}
	s.Notifications(ctx, store.NotificationFilter{}, func(n store.Notification) error { ids[n.Key] = n.ID; return nil })
	at := outboxT0.Add(time.Second)
	if err := s.FinishNotification(ctx, ids["a"], true, "", at, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishNotification(ctx, ids["b"], false, "connection refused", at, outboxT0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// After the lease: c and d (never finished: their sender died) come
	// back; b waits for its next attempt; a is sent.
	if got, _ := s.ClaimNotifications(ctx, "w3", outboxT0.Add(2*time.Minute), time.Minute, 10); fmt.Sprint(keysOf(got)) != "[c d]" {
		t.Fatalf("after the lease: %v", keysOf(got))
	}
	if got, _ := s.ClaimNotifications(ctx, "w3", outboxT0.Add(11*time.Minute), time.Minute, 10); fmt.Sprint(keysOf(got)) != "[b c d]" {
		t.Fatalf("after b's next attempt: %v", keysOf(got))
	}
	var sent, failing []store.Notification
	s.Notifications(ctx, store.NotificationFilter{Status: store.NotificationSent}, func(n store.Notification) error { sent = append(sent, n); return nil })
	s.Notifications(ctx, store.NotificationFilter{Status: store.NotificationPending, MinAttempts: 1}, func(n store.Notification) error { failing = append(failing, n); return nil })
	if len(sent) != 1 || sent[0].Key != "a" || !sent[0].SentAt.Equal(at) || sent[0].Attempts != 1 {
		t.Errorf("sent: %+v", sent)
	}
	if len(failing) != 1 || failing[0].Key != "b" || failing[0].LastError != "connection refused" || !failing[0].NextAttempt.Equal(outboxT0.Add(10*time.Minute)) {
		t.Errorf("failing: %+v", failing)
	}
}

// testOutboxWithFindings: an event's notifications are written with it,
// or not at all.
func testOutboxWithFindings(t *testing.T, s store.Store) {
	ctx := context.Background()
	rec := store.FindingRecord{Fingerprint: "f1", Check: "weak-key", Severity: "high", State: store.FindingOpen, FirstSeen: outboxT0, LastSeen: outboxT0, Since: outboxT0, RunID: 1, Data: json.RawMessage(`{}`)}
	ev := store.FindingEvent{Fingerprint: "f1", Time: outboxT0, RunID: 1, Event: store.EventOpened, Notify: []store.Notification{note("f1-opened")}}
	boom := errors.New("boom")
	err := s.UpdateFindings(ctx, nil, func(map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error) {
		return []store.FindingRecord{rec}, []store.FindingEvent{ev}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	count := func() int {
		n := 0
		s.Notifications(ctx, store.NotificationFilter{}, func(store.Notification) error { n++; return nil })
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("%d notifications from a failed update", n)
	}
	err = s.UpdateFindings(ctx, nil, func(map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error) {
		return []store.FindingRecord{rec}, []store.FindingEvent{ev}, nil
	})
	if err != nil || count() != 1 {
		t.Fatalf("update: %v, %d notifications", err, count())
	}
}

// testOutboxClaims: concurrent senders on two handles claim every
// notification exactly once.
func testOutboxClaims(t *testing.T, s, h store.Store) {
	ctx := context.Background()
	var ns []store.Notification
	for i := range 40 {
		ns = append(ns, note(fmt.Sprintf("n%02d", i)))
	}
	if _, err := s.EnqueueNotifications(ctx, ns); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if w%2 == 1 {
				st = h
			}
			for {
				got, err := st.ClaimNotifications(ctx, fmt.Sprintf("w%d", w), outboxT0, time.Hour, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, n := range got {
					claimed[n.Key]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claimed) != 40 {
		t.Errorf("%d of 40 claimed", len(claimed))
	}
	for k, c := range claimed {
		if c != 1 {
			t.Errorf("%s claimed %d times", k, c)
		}
	}
}
