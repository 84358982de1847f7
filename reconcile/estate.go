package reconcile

import (
	"fmt"
	"sort"
	"time"

	"github.com/keyaudit/keyaudit/store/records"
)

// The estate view: what keyaudit currently knows about each endpoint,
// folded from every attempt any run made at it. A run updates only the
// endpoints it attempted; an endpoint nobody looked at keeps its state.

// Attempt is one observation of an endpoint by one run.
type Attempt struct {
	RunID int64
	// Counted is true when the run finished complete or partial: only
	// such attempts count towards "gone". An interrupted or failed run's
	// failures may be its own fault; what it saw served still counts.
	Counted bool
	Obs     records.Observation
}

// EndpointState is the estate view of one endpoint.
type EndpointState struct {
	// Key is protocol|target|ip, the endpoint's identity.
	Key string
	// Latest is the latest attempt, whatever its outcome.
	Latest    *records.Observation
	LatestRun int64
	// Served is the latest attempt that served a certificate chain (nil:
	// never served), and Prior the one that served before it.
	Served    *records.Observation
	ServedRun int64
	Prior     *records.Observation
	PriorRun  int64
	// FailRuns are the counted runs whose attempts served no TLS since
	// Served, oldest first.
	FailRuns []int64
	// Gone is set when FailRuns reached the policy's GoneAfter.
	Gone bool
	// New is set when the endpoint serves TLS now and did not before:
	// its earlier attempts failed, or it appeared after BaselineRun.
	New bool
	// FirstSeen is its first attempt.
	FirstSeen time.Time
}

// Effective is the observation the checks read for this endpoint: the
// latest that served a chain (an endpoint failing but not yet gone keeps
// what it served), else its latest attempt; nil once it is gone.
func (e *EndpointState) Effective() (*records.Observation, int64) {
	switch {
	case e.Gone:
		return nil, 0
	case e.Served != nil:
		return e.Served, e.ServedRun
	}
	return e.Latest, e.LatestRun
}

// FoldEndpoint builds the state of one endpoint from its attempts (any
// order). goneAfter ≤ 0 means the default. baselineRun is the first
// complete scan run of the estate: an endpoint first attempted by a later
// run is new when it serves.
func FoldEndpoint(key string, attempts []Attempt, goneAfter int, baselineRun int64) EndpointState {
	return FoldHistory(key, History{Attempts: attempts}, goneAfter, baselineRun)
}

// History is what is known of an endpoint's attempts: all of them, or
// only the latest (enough to tell gone, changed and new), with when and
// in which run it was first attempted.
type History struct {
	Attempts []Attempt
	// FirstRun and FirstSeen are of the endpoint's first attempt; zero:
	// the earliest of Attempts.
	FirstRun  int64
	FirstSeen time.Time
}

// FoldHistory is FoldEndpoint over a possibly truncated history.
func FoldHistory(key string, h History, goneAfter int, baselineRun int64) EndpointState {
	attempts := h.Attempts
	if goneAfter <= 0 {
		goneAfter = defaultGoneAfter
	}
	sort.SliceStable(attempts, func(i, j int) bool {
		a, b := attempts[i], attempts[j]
		if !a.Obs.Time.Equal(b.Obs.Time) {
			return a.Obs.Time.Before(b.Obs.Time)
		}
		return a.RunID < b.RunID
	})
	e := EndpointState{Key: key}
	if len(attempts) == 0 {
		return e
	}
	e.FirstSeen = attempts[0].Obs.Time
	firstRun := attempts[0].RunID
	if h.FirstRun != 0 && h.FirstRun < firstRun {
		firstRun = h.FirstRun
		if !h.FirstSeen.IsZero() {
			e.FirstSeen = h.FirstSeen
		}
	}
	sawFailure := false
	for i := range attempts {
		a := &attempts[i]
		e.Latest, e.LatestRun = &a.Obs, a.RunID
		if a.Obs.Leaf() != nil {
			e.Prior, e.PriorRun = e.Served, e.ServedRun
			e.Served, e.ServedRun = &a.Obs, a.RunID
			e.FailRuns = nil
			continue
		}
		if a.Obs.Error != nil && (a.Obs.Error.Kind == records.ScanScope || a.Obs.Error.Kind == records.ScanCancelled) {
			continue // never contacted, or stopped by us: says nothing
		}
		if e.Served == nil && a.Obs.Error != nil && a.Obs.Error.Kind != records.ScanTimeout {
			sawFailure = true
		}
		if a.Counted && e.Served != nil && !containsRun(e.FailRuns, a.RunID) {
			e.FailRuns = append(e.FailRuns, a.RunID)
		}
	}
	e.Gone = e.Served != nil && len(e.FailRuns) >= goneAfter
	if e.Served != nil && e.Latest == e.Served && e.Prior == nil {
		e.New = sawFailure || (baselineRun > 0 && firstRun > baselineRun)
	}
	return e
}

func containsRun(rs []int64, id int64) bool {
	for _, r := range rs {
		if r == id {
			return true
		}
	}
	return false
}

// GoneEvidence describes why an endpoint is gone.
func (e *EndpointState) GoneEvidence() string {
	return fmt.Sprintf("served no TLS in %d consecutive complete attempts (runs %v)", len(e.FailRuns), e.FailRuns)
}
