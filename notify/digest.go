package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
)

// EventDigest is the event of a daily digest.
const EventDigest = "digest"

// digestDays is how many past digests are made up when keyaudit did not
// run at their hour (each is made once: its key is fixed by its date).
const digestDays = 7

// maxDigestLines bounds the events a digest's text lists (the webhook's
// JSON carries them all).
const maxDigestLines = 200

// Digest is one owner's events of one day.
type Digest struct {
	From  time.Time    `json:"from"`
	To    time.Time    `json:"to"`
	Items []DigestItem `json:"items"`
}

// DigestItem is one event of a digest.
type DigestItem struct {
	Event       string            `json:"event"`
	Time        time.Time         `json:"time"`
	Fingerprint string            `json:"fingerprint"`
	Finding     reconcile.Finding `json:"finding"`
}

// EnqueueDigests puts into the outbox the daily digests of the digest
// routes whose hour has come, for today and the days before it keyaudit
// missed: per route, sink and owner, the events of the day before the
// hour that the route matches. Each digest's key is fixed by its route,
// sink, owner and hour, so running this again (another sender, the next
// run) adds nothing twice; an owner with no events gets no digest.
func (r *Router) EnqueueDigests(ctx context.Context, st store.Store, now time.Time) (int, error) {
	if r == nil {
		return 0, nil
	}
	var routes []Route
	for _, rt := range r.cfg.Routes {
		if rt.Digest != "" {
			routes = append(routes, rt)
		}
	}
	if len(routes) == 0 {
		return 0, nil
	}
	now = now.UTC()
	oldest := now.Add(-time.Duration(digestDays+1) * 24 * time.Hour)
	var events []store.FindingEvent
	err := st.FindingEvents(ctx, "", func(e store.FindingEvent) error {
		if e.Time.After(oldest) && !e.Time.After(now) {
			events = append(events, e)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return 0, nil
	}
	want := map[string]bool{}
	for _, e := range events {
		want[e.Fingerprint] = true
	}
	findings := map[string]reconcile.Finding{}
	err = st.Findings(ctx, store.FindingFilter{}, func(fr store.FindingRecord) error {
		if !want[fr.Fingerprint] {
			return nil
		}
		var f reconcile.Finding
		if err := json.Unmarshal(fr.Data, &f); err != nil {
			return fmt.Errorf("finding %s: %w", fr.Fingerprint, err)
		}
		findings[fr.Fingerprint] = f
		return nil
	})
	if err != nil {
		return 0, err
	}
	var out []store.Notification
	for _, rt := range routes {
		at, _ := rt.digestTime()
		last := now.Truncate(24 * time.Hour).Add(at)
		if last.After(now) {
			last = last.Add(-24 * time.Hour)
		}
		for d := 0; d < digestDays; d++ {
			to := last.Add(-time.Duration(d) * 24 * time.Hour)
			from := to.Add(-24 * time.Hour)
			byOwner := map[string][]DigestItem{}
			for _, e := range events {
				f, ok := findings[e.Fingerprint]
				if !ok || !e.Time.After(from) || e.Time.After(to) || !r.routeMatches(rt, e.Event, &f) {
					continue
				}
				byOwner[f.Owner] = append(byOwner[f.Owner], DigestItem{Event: e.Event, Time: e.Time, Fingerprint: e.Fingerprint, Finding: f})
			}
			owners := make([]string, 0, len(byOwner))
			for o := range byOwner {
				owners = append(owners, o)
			}
			sort.Strings(owners)
			for _, o := range owners {
				items := byOwner[o]
				sort.SliceStable(items, func(i, j int) bool { return items[i].Finding.Severity.Rank() > items[j].Finding.Severity.Rank() })
				p := Payload{Event: EventDigest, Time: to, Digest: &Digest{From: from, To: to, Items: items}}
				if ow, ok := r.owners[o]; ok {
					p.Owner = &ow
				} else if o != "" {
					p.Owner = &Owner{Name: o}
				}
				out = append(out, r.build(rt, p, "digest:"+o+"@"+to.Format(time.RFC3339), now)...)
			}
		}
	}
	return st.EnqueueNotifications(ctx, out)
}
