package reconcile

import (
	"fmt"
	"sort"
	"sync"
)

// Check is one registered check.
type Check struct {
	// ID is stable and kebab-case, e.g. "unmanaged-key".
	ID       string
	Severity Severity // default severity of its findings
	// Description says what the check finds, in one sentence.
	Description string
	// Help says what to do about a finding.
	Help string
	// Citations are the rules the check enforces (NIST SP 800-57 Part 1
	// §5.3, PCI DSS 4.0 3.6.1, RFC 8659 §4, CA/B Forum BR 6.3.2 …).
	Citations []string
	// Controls are compliance controls findings map to (PCI DSS, NIST,
	// HIPAA, GDPR), for reports.
	Controls []string
	// Run is pure: it reads the snapshot and returns findings.
	Run func(*Snapshot) []Finding
	// Sticky findings report an event (a key vanished) rather than a
	// state: once open, they resolve only on evidence about their subject
	// (the key is back, the finding is suppressed), never because a later
	// reconcile no longer reports the event.
	Sticky bool
}

var (
	regMu    sync.Mutex
	registry = map[string]*Check{}
	sealed   bool
)

// Register adds a check; it panics on a duplicate or incomplete check or
// after the registry has been read (registration happens in init()).
func Register(c *Check) {
	regMu.Lock()
	defer regMu.Unlock()
	if sealed {
		panic("reconcile: Register after start-up: " + c.ID)
	}
	if c.ID == "" || c.Run == nil || c.Severity.Rank() < 0 || c.Description == "" {
		panic(fmt.Sprintf("reconcile: incomplete check %+v", c))
	}
	if _, dup := registry[c.ID]; dup {
		panic("reconcile: duplicate check ID " + c.ID)
	}
	registry[c.ID] = c
}

// Checks returns every registered check, sorted by ID. The registry is
// sealed from then on.
func Checks() []*Check {
	regMu.Lock()
	defer regMu.Unlock()
	sealed = true
	out := make([]*Check, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup returns the check with id.
func Lookup(id string) (*Check, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	c, ok := registry[id]
	return c, ok
}

// UnknownCheck returns an error naming the first of ids that is not a
// registered check (nil when all are).
func UnknownCheck(ids ...string) error {
	for _, id := range ids {
		if _, ok := Lookup(id); !ok {
			return fmt.Errorf("--check: unknown check %q (see keyaudit checks list)", id)
		}
	}
	return nil
}
