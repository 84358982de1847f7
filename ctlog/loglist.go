package ctlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
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
// (https://www.gstatic.com/ct/log_list/v3/log_list_schema.json).
type LogList struct {
	Version   string     `json:"version"`
	Timestamp time.Time  `json:"log_list_timestamp"`
	Operators []Operator `json:"operators"`
}

// Operator is one log operator and its logs.
type Operator struct {
	Name      string     `json:"name"`
	Email     []string   `json:"email"`
	Logs      []ListLog  `json:"logs"`
	TiledLogs []TiledLog `json:"tiled_logs"`
}

// ListLog is an RFC 6962 log entry of the list.
type ListLog struct {
	Description string    `json:"description"`
	LogID       string    `json:"log_id"`
	Key         string    `json:"key"`
	URL         string    `json:"url"`
	MMD         int       `json:"mmd"`
	State       *LogState `json:"state"`
	LogType     string    `json:"log_type,omitempty"`
}

// TiledLog is a static-ct-api log entry of the list.
type TiledLog struct {
	Description   string    `json:"description"`
	LogID         string    `json:"log_id"`
	Key           string    `json:"key"`
	SubmissionURL string    `json:"submission_url"`
	MonitoringURL string    `json:"monitoring_url"`
	MMD           int       `json:"mmd"`
	State         *LogState `json:"state"`
	LogType       string    `json:"log_type,omitempty"`
}

// LogState holds exactly one state object.
type LogState struct {
	Pending   *stateSince    `json:"pending,omitempty"`
	Qualified *stateSince    `json:"qualified,omitempty"`
	Usable    *stateSince    `json:"usable,omitempty"`
	ReadOnly  *readOnlyState `json:"readonly,omitempty"`
	Retired   *stateSince    `json:"retired,omitempty"`
	Rejected  *stateSince    `json:"rejected,omitempty"`
}

type stateSince struct {
	Timestamp time.Time `json:"timestamp"`
}

type readOnlyState struct {
	Timestamp     time.Time `json:"timestamp"`
	FinalTreeHead struct {
		RootHash string `json:"sha256_root_hash"`
		TreeSize uint64 `json:"tree_size"`
	} `json:"final_tree_head"`
}

// Name returns the state's name, or "" when none is set.
func (s *LogState) Name() string {
	switch {
	case s == nil:
		return ""
	case s.Usable != nil:
		return StateUsable
	case s.Qualified != nil:
		return StateQualified
	case s.ReadOnly != nil:
		return StateReadOnly
	case s.Retired != nil:
		return StateRetired
	case s.Rejected != nil:
		return StateRejected
	case s.Pending != nil:
		return StatePending
	}
	return ""
}

// ParseLogList parses a log list v3 document.
func ParseLogList(b []byte) (*LogList, error) {
	var ll LogList
	if err := json.Unmarshal(b, &ll); err != nil {
		return nil, fmt.Errorf("ctlog: log list: %w", err)
	}
	if len(ll.Operators) == 0 {
		return nil, errors.New("ctlog: log list: no operators")
	}
	return &ll, nil
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
		for _, l := range op.Logs {
			st := l.State.Name()
			if !slices.Contains(states, st) {
				continue
			}
			log, err := listEntry(l.Description, l.LogID, l.Key, l.URL, RFC6962, l.State)
			if err != nil {
				return nil, err
			}
			out = append(out, log)
		}
		for _, l := range op.TiledLogs {
			st := l.State.Name()
			if !slices.Contains(states, st) {
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

func listEntry(desc, id, key, url string, typ Type, st *LogState) (Log, error) {
	l, err := NewLog(url, key, typ)
	if err != nil {
		return Log{}, fmt.Errorf("ctlog: log list entry %q: %w", desc, err)
	}
	if id != "" && strings.TrimSpace(id) != l.ID {
		return Log{}, fmt.Errorf("ctlog: log list entry %q: log_id %s does not match its key (%s)", desc, id, l.ID)
	}
	l.Description = desc
	l.State = st.Name()
	if st != nil && st.ReadOnly != nil {
		l.FinalTreeSize = st.ReadOnly.FinalTreeHead.TreeSize
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
		for _, l := range op.TiledLogs {
			if _, der, err := ParsePublicKey(l.Key); err == nil && l.SubmissionURL != "" {
				if id := LogID(der); out[id] == "" {
					out[id] = SubmissionOrigin(l.SubmissionURL)
				}
			}
		}
	}
	return out
}
