package records

import "time"

// Log statuses of a CT sync.
const (
	LogOK           = "ok"
	LogMisbehaviour = "misbehaviour" // the log broke a promise (bad signature, inconsistent tree …)
	LogUnreachable  = "unreachable"  // could not be read or verified this time
)

// LogStatus is how one CT log ended in one sync, stored as a
// store.KindLogStatus item keyed by the log's URL. The estate view keeps
// the latest status of each log; the ct-log-misbehaviour check turns an
// issue into a finding.
type LogStatus struct {
	Log     string         `json:"log"` // URL
	Status  string         `json:"status"`
	Kind    string         `json:"kind,omitempty"` // what went wrong, for issues
	Message string         `json:"message,omitempty"`
	Detail  map[string]any `json:"detail,omitempty"`
	Time    time.Time      `json:"time"`
}
