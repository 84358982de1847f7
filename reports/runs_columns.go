package reports

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/store"
)

// RunRow is one run as `keyaudit runs` lists it.
type RunRow struct {
	store.Run
	// Counts holds the number of records of each kind the run wrote
	// (kinds with none are left out).
	Counts map[string]int64 `json:"counts"`
}

// RunCountKinds are the record kinds counted per run, in display order.
var RunCountKinds = []string{store.KindObservation, store.KindKey, store.KindCAA, store.KindSighting, store.KindFinding, store.KindSourceError}

// RunColumns are the table and CSV columns of runs.
var RunColumns = []Column[RunRow]{
	{Header: "ID", Value: func(r RunRow) string { return strconv.FormatInt(r.ID, 10) }},
	{Header: "KIND", Value: func(r RunRow) string { return r.Kind }},
	{Header: "GROUP", Value: func(r RunRow) string { return r.Group }},
	{Header: "STATUS", Value: func(r RunRow) string { return string(r.Status) }},
	{Header: "STARTED", Value: func(r RunRow) string { return r.Started.UTC().Format(time.RFC3339) }},
	{Header: "ENDED", Value: func(r RunRow) string {
		if r.Ended.IsZero() {
			return ""
		}
		return r.Ended.UTC().Format(time.RFC3339)
	}},
	{Header: "RECORDS", Value: func(r RunRow) string {
		var parts []string
		for _, k := range RunCountKinds {
			if n := r.Counts[k]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s=%d", k, n))
			}
		}
		return strings.Join(parts, " ")
	}},
	{Header: "NOTE", Value: func(r RunRow) string { return r.Note }},
}
