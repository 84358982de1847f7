package reports

import (
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
)

// FindingRow is one finding the store tracks across reconciles, as
// `keyaudit findings` lists it: the finding (first_seen as first
// recorded), its lifecycle state and when it entered it, the evidence
// that resolved it and, when asked for, every lifecycle event.
type FindingRow struct {
	reconcile.Finding
	Fingerprint string               `json:"fingerprint"`
	State       string               `json:"state"`
	LastSeen    time.Time            `json:"last_seen"`
	Since       time.Time            `json:"since"`
	Resolution  map[string]any       `json:"resolution,omitempty"`
	History     []store.FindingEvent `json:"history,omitempty"`
}

// FindingRowColumns are the table and CSV columns of tracked findings.
var FindingRowColumns = []Column[FindingRow]{
	{Header: "STATE", Value: func(r FindingRow) string { return r.State }},
	{Header: "SEVERITY", Value: func(r FindingRow) string { return string(r.Severity) }},
	{Header: "CHECK", Value: func(r FindingRow) string { return r.Check }},
	{Header: "SUBJECT", Value: func(r FindingRow) string { return r.Subject }},
	{Header: "ENDPOINT", Value: func(r FindingRow) string { return r.Endpoint }},
	{Header: "FIRST SEEN", Value: func(r FindingRow) string { return r.FirstSeen.UTC().Format("2006-01-02 15:04") }},
	{Header: "SINCE", Value: func(r FindingRow) string { return r.Since.UTC().Format("2006-01-02 15:04") }},
	{Header: "EVIDENCE", Value: func(r FindingRow) string {
		if d, ok := r.Resolution["detail"].(string); ok {
			return d
		}
		return ""
	}},
}
