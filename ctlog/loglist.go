package ctlog

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/google/certificate-transparency-go/loglist3"
)

// maxLogListBytes caps a log list file (Chrome's is ≈100 KB).
const maxLogListBytes = 16 << 20

// Log list states (Chrome log list v3).
const (
	StatePending   = "pending"
	StateQualified = "qualified"
	StateUsable    = "usable"
	StateReadOnly  = "readonly"
	StateRetired   = "retired"
	StateRejected  = "rejected"
)

// DefaultStates are the states a monitor follows: logs that accept or
// accepted certificates browsers trust, and frozen logs that still serve
// their entries.
var DefaultStates = []string{StateUsable, StateQualified, StateReadOnly}

// LogList is a parsed Chrome log list v3
// (https://www.gstatic.com/ct/log_list/v3/log_list_schema.json), as
// certificate-transparency-go's loglist3 reads it.
type LogList struct {
	*loglist3.LogList
}

// stateName is the name of a list entry's state ("" when none is set).
func stateName(s *loglist3.LogStates) string {
	switch s.LogStatus() {
	case loglist3.UsableLogStatus:
		return StateUsable
	case loglist3.QualifiedLogStatus:
		return StateQualified
	case loglist3.ReadOnlyLogStatus:
		return StateReadOnly
	case loglist3.RetiredLogStatus:
		return StateRetired
	case loglist3.RejectedLogStatus:
		return StateRejected
	case loglist3.PendingLogStatus:
		return StatePending
	}
	return ""
}

// ParseLogList parses a log list v3 document (loglist3.NewFromJSON).
func ParseLogList(b []byte) (*LogList, error) {
	ll, err := loglist3.NewFromJSON(b)
	if err != nil {
		return nil, fmt.Errorf("ctlog: log list: %w", err)
	}
	if len(ll.Operators) == 0 {
		return nil, errors.New("ctlog: log list: no operators")
	}
	return &LogList{ll}, nil
}

// ReadLogList reads and parses a log list file.
func ReadLogList(path string) (*LogList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ctlog: log list: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLogListBytes+1))
	if err != nil {
		return nil, fmt.Errorf("ctlog: log list %s: %w", path, err)
	}
	if len(b) > maxLogListBytes {
		return nil, fmt.Errorf("ctlog: log list %s: larger than %d bytes", path, maxLogListBytes)
	}
	return ParseLogList(b)
}

// Logs returns the list's logs whose state is one of states
// (DefaultStates when none are given), RFC 6962 and tiled alike. A log
// whose key does not parse or does not match its log ID is an error: a
// list that lies about a key must not be half-used.
func (ll *LogList) Logs(states ...string) ([]Log, error) {
	if len(states) == 0 {
		states = DefaultStates
	}
	var out []Log
	for _, op := range ll.Operators {
		if op == nil {
			continue
		}
		for _, l := range op.Logs {
			if l == nil || !slices.Contains(states, stateName(l.State)) {
				continue
			}
			log, err := listEntry(l.Description, l.LogID, l.Key, l.URL, RFC6962, l.State)
			if err != nil {
				return nil, err
			}
			out = append(out, log)
		}
		for _, l := range op.TiledLogs {
			if l == nil || !slices.Contains(states, stateName(l.State)) {
				continue
			}
			log, err := listEntry(l.Description, l.LogID, l.Key, l.MonitoringURL, Static, l.State)
			if err != nil {
				return nil, err
			}
			log.Origin = SubmissionOrigin(l.SubmissionURL)
			out = append(out, log)
		}
	}
	return out, nil
}

func listEntry(desc string, id, key []byte, url string, typ Type, st *loglist3.LogStates) (Log, error) {
	l, err := NewLog(url, base64.StdEncoding.EncodeToString(key), typ)
	if err != nil {
		return Log{}, fmt.Errorf("ctlog: log list entry %q: %w", desc, err)
	}
	if len(id) > 0 && base64.StdEncoding.EncodeToString(id) != l.ID {
		return Log{}, fmt.Errorf("ctlog: log list entry %q: log_id %s does not match its key (%s)", desc, base64.StdEncoding.EncodeToString(id), l.ID)
	}
	l.Description = desc
	l.State = stateName(st)
	if st != nil && st.ReadOnly != nil && st.ReadOnly.FinalTreeHead.TreeSize > 0 {
		l.FinalTreeSize = uint64(st.ReadOnly.FinalTreeHead.TreeSize)
	}
	return l, nil
}

// SubmissionOrigin is the checkpoint origin c2sp.org/static-ct-api names
// for a log with this submission prefix: the URL without its scheme and
// trailing slashes ("" when there is none).
func SubmissionOrigin(submissionURL string) string {
	u := strings.TrimSpace(submissionURL)
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	return strings.TrimRight(u, "/")
}

// origins maps the log ID of every tiled log of the list, in any state,
// to its origin (SubmissionOrigin), the first entry's for a log listed
// twice. Entries whose key does not parse are left out: Logs reports
// them.
func (ll *LogList) origins() map[string]string {
	out := map[string]string{}
	for _, op := range ll.Operators {
		if op == nil {
			continue
		}
		for _, l := range op.TiledLogs {
			if l == nil {
				continue
			}
			if _, der, err := ParsePublicKey(base64.StdEncoding.EncodeToString(l.Key)); err == nil && l.SubmissionURL != "" {
				if id := LogID(der); out[id] == "" {
					out[id] = SubmissionOrigin(l.SubmissionURL)
				}
			}
		}
	}
	return out
}
