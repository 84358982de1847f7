package stage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
)

// runStatuses are the statuses a run can be listed in.
var runStatuses = []store.RunStatus{store.StatusRunning, store.StatusComplete, store.StatusPartial, store.StatusInterrupted, store.StatusFailed, store.StatusAbandoned}

// RunStatuses reads run statuses as a person writes them (any case,
// spaces around trimmed).
func RunStatuses(list []string) ([]store.RunStatus, error) {
	var out []store.RunStatus
	for _, s := range list {
		st := store.RunStatus(strings.ToLower(strings.TrimSpace(s)))
		if !slices.Contains(runStatuses, st) {
			return nil, fmt.Errorf("%q: want running, complete, partial, interrupted, failed or abandoned", s)
		}
		out = append(out, st)
	}
	return out, nil
}

// RunIDs reads run IDs as a person writes them.
func RunIDs(list []string) ([]int64, error) {
	var out []int64
	for _, s := range list {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q: not a run ID", s)
		}
		out = append(out, id)
	}
	return out, nil
}

// Runs returns the runs of env.Store that filter selects, newest first,
// each with how many records of each of reports.RunCountKinds it wrote.
// A run still running whose holder has not renewed its lease
// (store.Lease) for longer than that is shown abandoned, with a note
// saying since when, as the next writer will mark it: Runs only reads
// the store.
func Runs(ctx context.Context, env Env, filter store.RunFilter) ([]reports.RunRow, error) {
	st := env.Store
	if st == nil {
		return nil, errors.New("runs: no store")
	}
	runs, err := st.Runs(ctx, filter)
	if err != nil {
		return nil, err
	}
	lease, now := store.Lease(), env.now()
	rows := make([]reports.RunRow, 0, len(runs))
	for _, r := range runs {
		if r.Status == store.StatusRunning && !r.Heartbeat.IsZero() && now.Sub(r.Heartbeat) > lease {
			r.Status = store.StatusAbandoned
			r.Note = fmt.Sprintf("no heartbeat from %s since %s (lease %s)", r.Holder, r.Heartbeat.UTC().Format(time.RFC3339), lease)
		}
		row := reports.RunRow{Run: r, Counts: map[string]int64{}}
		for _, k := range reports.RunCountKinds {
			n, err := st.Count(ctx, r.ID, k)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				row.Counts[k] = n
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}
