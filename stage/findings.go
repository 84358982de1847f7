package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
)

// FindingState reads a lifecycle state to list findings in, as a person
// writes it — open, resolved, or all (or "") for both, in any case — and
// returns it as store.FindingFilter takes it ("" for all).
func FindingState(s string) (string, error) {
	switch strings.ToLower(s) {
	case store.FindingOpen, store.FindingResolved:
		return strings.ToLower(s), nil
	case "all", "":
		return "", nil
	}
	return "", fmt.Errorf("%q: want open, resolved or all", s)
}

// Findings returns the findings env.Store tracks that filter selects,
// each with its state, first_seen as first recorded, the evidence that
// resolved it (resolved findings) and, with history, its lifecycle
// events oldest first. It only reads the store.
func Findings(ctx context.Context, env Env, filter store.FindingFilter, history bool) ([]reports.FindingRow, error) {
	st := env.Store
	if st == nil {
		return nil, errors.New("findings: no store")
	}
	var rows []reports.FindingRow
	err := st.Findings(ctx, filter, func(r store.FindingRecord) error {
		row := reports.FindingRow{Fingerprint: r.Fingerprint, State: r.State, LastSeen: r.LastSeen, Since: r.Since}
		if err := json.Unmarshal(r.Data, &row.Finding); err != nil {
			return fmt.Errorf("finding %s: %w", r.Fingerprint, err)
		}
		row.FirstSeen = r.FirstSeen
		if r.State == store.FindingResolved && len(r.Evidence) > 0 {
			_ = json.Unmarshal(r.Evidence, &row.Resolution)
		}
		rows = append(rows, row)
		return nil
	})
	if err != nil || !history {
		return rows, err
	}
	// Read after the findings, not from their callback: one query at a
	// time.
	for i := range rows {
		err := st.FindingEvents(ctx, rows[i].Fingerprint, func(e store.FindingEvent) error {
			rows[i].History = append(rows[i].History, e)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return rows, nil
}
