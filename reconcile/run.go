package reconcile

import (
	"crypto/sha256"
	"fmt"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Suppression silences findings that match it (each non-empty field
// must match; Subject and Endpoint are path.Match globs) until Until.
type Suppression struct {
	Check    string `yaml:"check" json:"check"`
	Subject  string `yaml:"subject" json:"subject,omitempty"`
	SPKI     string `yaml:"spki_sha256" json:"spki_sha256,omitempty"`
	Cert     string `yaml:"cert_sha256" json:"cert_sha256,omitempty"`
	Endpoint string `yaml:"endpoint" json:"endpoint,omitempty"`
	// Fingerprint matches one finding exactly (Finding.Fingerprint).
	Fingerprint string    `yaml:"fingerprint" json:"fingerprint,omitempty"`
	Reason      string    `yaml:"reason" json:"reason"`
	Until       time.Time `yaml:"until" json:"until,omitzero"`
	// Source is where the suppression was written (file:line), for the
	// finding that reports it expired.
	Source string `yaml:"-" json:"source,omitempty"`
}

// Expired reports whether the suppression no longer applies at now.
func (s Suppression) Expired(now time.Time) bool { return !s.Until.IsZero() && now.After(s.Until) }

func (s Suppression) matches(f Finding, now time.Time) bool {
	if !s.Until.IsZero() && now.After(s.Until) {
		return false
	}
	glob := func(pat, v string) bool {
		if pat == "" {
			return true
		}
		// path.Match's * stops at '/', but subjects and endpoints
		// ("smtp://mail.example.com:25") are not paths: let * span them.
		const sep = "\x1f"
		ok, err := path.Match(strings.ReplaceAll(pat, "/", sep), strings.ReplaceAll(v, "/", sep))
		return err == nil && ok
	}
	return (s.Check == "" || s.Check == f.Check) && glob(s.Subject, f.Subject) &&
		(s.SPKI == "" || strings.EqualFold(s.SPKI, f.SPKISHA256)) &&
		(s.Cert == "" || strings.EqualFold(s.Cert, f.CertSHA256)) &&
		(s.Fingerprint == "" || s.Fingerprint == f.Fingerprint()) && glob(s.Endpoint, f.Endpoint)
}

// Options tune Run.
type Options struct {
	// Checks restricts the run to these IDs (all when empty).
	Checks []string
	// Suppressions silence accepted findings (they are still reported,
	// marked suppressed).
	Suppressions []Suppression
}

// Result is the outcome of Run: the findings of this snapshot. Their
// history across reconciles (first_seen, resolved, reopened) is the
// lifecycle's (Advance).
type Result struct {
	Findings []Finding `json:"findings"`
}

// Run executes the registered checks over s. It is deterministic:
// findings are sorted by severity, check, subject, endpoint. Each
// finding's FirstSeen is s.Now; Advance replaces it with the first
// reconcile that reported it.
func Run(s *Snapshot, o Options) Result {
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
	s.Policy = s.Policy.withDefaults()
	s.Suppressions = o.Suppressions
	want := map[string]bool{}
	for _, id := range o.Checks {
		want[id] = true
	}
	// Each check's findings first, then one slice of the right size: a
	// million findings grown by append would be copied a dozen times.
	type checkOut struct {
		c  *Check
		fs []Finding
	}
	var outs []checkOut
	for _, c := range Checks() {
		if len(want) > 0 && !want[c.ID] {
			continue
		}
		outs = append(outs, checkOut{c: c})
	}
	now := s.Now.UTC()
	runChecks(s, outs, func(co *checkOut) {
		c := co.c
		fs := c.Run(s)
		// A fingerprint names its check, so duplicates can only come from
		// one check: each is deduplicated where it ran.
		seen := make(map[[16]byte]struct{}, len(fs))
		var fp fingerprinter
		kept := fs[:0]
		for i := range fs {
			f := &fs[i]
			f.Check = c.ID
			if f.Severity == "" {
				f.Severity = c.Severity
			}
			f.Severity = s.Policy.severityOf(c.ID, f.Severity)
			if f.Controls == nil {
				f.Controls = c.Controls
			}
			k := fp.sum(f)
			if _, dup := seen[k]; dup {
				continue // one finding per check and subject
			}
			seen[k] = struct{}{}
			f.FirstSeen = now
			for _, sup := range o.Suppressions {
				if sup.matches(*f, s.Now) {
					f.Suppressed, f.SuppressedBy = true, sup.Reason
					break
				}
			}
			kept = append(kept, *f)
		}
		co.fs = kept
	})
	total := 0
	for _, co := range outs {
		total += len(co.fs)
	}
	var res Result
	res.Findings = make([]Finding, 0, total)
	for oi := range outs {
		res.Findings = append(res.Findings, outs[oi].fs...)
		outs[oi].fs = nil
	}
	outs = nil
	res.Findings = mergeEndpoints(res.Findings)
	Sort(res.Findings)
	return res
}

// runChecks runs each check's fn, on every processor: checks are pure
// functions of the snapshot, so they run at once once the snapshot's
// shared indexes are built (prepare); results keep the registry's order.
func runChecks[T any](s *Snapshot, outs []T, fn func(*T)) {
	workers := min(runtime.GOMAXPROCS(0), len(outs))
	if workers <= 1 {
		for i := range outs {
			fn(&outs[i])
		}
		return
	}
	s.prepare()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(outs) {
					return
				}
				fn(&outs[i])
			}
		})
	}
	wg.Wait()
}

// mergeEndpoints folds the findings that differ only in how their
// endpoint was reached — by name and by address, the same protocol, IP
// and port — into one finding naming the endpoint by name and listing
// every form in evidence "endpoints".
func mergeEndpoints(fs []Finding) []Finding {
	// Only an endpoint found by address as well as by name can merge:
	// collect the address forms first (usually few), and leave the rest
	// alone without parsing every endpoint.
	byAddress := map[string]bool{}
	for _, f := range fs {
		if f.Endpoint != "" && !strings.Contains(f.Endpoint, " (") {
			byAddress[CanonicalEndpoint(f.Endpoint)] = true
		}
	}
	if len(byAddress) == 0 {
		return fs
	}
	type groupKey struct{ check, subject, spki, cert, endpoint string }
	groups := map[groupKey][]int{}
	var order []groupKey
	for i, f := range fs {
		if f.Endpoint == "" {
			continue
		}
		canon := CanonicalEndpoint(f.Endpoint)
		if !byAddress[canon] {
			continue
		}
		subject := f.Subject
		if endpointTarget(f.Endpoint) == subject {
			subject = "" // a subject that is the endpoint's own name
		}
		k := groupKey{f.Check, subject, f.SPKISHA256, f.CertSHA256, canon}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	drop := map[int]bool{}
	for _, k := range order {
		idx := groups[k]
		if len(idx) < 2 {
			continue
		}
		names := make([]string, 0, len(idx))
		keep := idx[0]
		for _, i := range idx {
			names = append(names, fs[i].Endpoint)
			// Prefer the name form ("tls://host:443 (ip)"), then the
			// smallest, so the merged fingerprint is stable.
			a, b := fs[i].Endpoint, fs[keep].Endpoint
			an, bn := strings.Contains(a, " ("), strings.Contains(b, " (")
			if an && !bn || an == bn && a < b {
				keep = i
			}
		}
		sort.Strings(names)
		for _, i := range idx {
			if i != keep {
				drop[i] = true
			}
		}
		f := &fs[keep]
		ev := make(map[string]any, len(f.Evidence)+1)
		for k, v := range f.Evidence {
			ev[k] = v
		}
		ev["endpoints"] = names
		f.Evidence = ev
		f.Message += fmt.Sprintf(" (also reached as %s)", strings.Join(otherThan(names, f.Endpoint), ", "))
	}
	if len(drop) == 0 {
		return fs
	}
	out := fs[:0]
	for i, f := range fs {
		if !drop[i] {
			out = append(out, f)
		}
	}
	return out
}

// endpointTarget is the target part of an endpoint name
// ("tls://host:443 (ip)" → "host:443").
func endpointTarget(ep string) string {
	_, rest, ok := strings.Cut(ep, "://")
	if !ok {
		return ""
	}
	if i := strings.LastIndex(rest, " ["); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, " ("); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func otherThan(names []string, x string) []string {
	var out []string
	for _, n := range names {
		if n != x {
			out = append(out, n)
		}
	}
	return out
}

// Sort orders findings by severity (most severe first), check, subject,
// endpoint, certificate; equal findings keep their order. It sorts
// indexes and then moves each finding once: findings are large, and a
// sort that swaps them moves every one of them log n times.
func Sort(fs []Finding) {
	idx := make([]int32, len(fs))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(i, j int32) int {
		a, b := &fs[i], &fs[j]
		if ra, rb := a.Severity.Rank(), b.Severity.Rank(); ra != rb {
			return rb - ra
		}
		if c := strings.Compare(a.Check, b.Check); c != 0 {
			return c
		}
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		if c := strings.Compare(a.Endpoint, b.Endpoint); c != 0 {
			return c
		}
		return strings.Compare(a.CertSHA256, b.CertSHA256)
	})
	// Apply the permutation in place, cycle by cycle: position i receives
	// the finding at idx[i].
	for i := range idx {
		if idx[i] < 0 {
			continue
		}
		tmp := fs[i]
		j := i
		for {
			k := int(idx[j])
			idx[j] = -1
			if k == i {
				fs[j] = tmp
				break
			}
			fs[j] = fs[k]
			j = k
		}
	}
}

// Worst returns the highest severity among unsuppressed findings, and
// false when there is none.
func Worst(fs []Finding) (Severity, bool) {
	best, found := Info, false
	for _, f := range fs {
		if f.Suppressed {
			continue
		}
		if !found || f.Severity.Rank() > best.Rank() {
			best, found = f.Severity, true
		}
	}
	return best, found
}

// fingerprinter computes Finding.Fingerprint's digest without the
// allocations of building its string, for deduplicating many findings.
type fingerprinter struct{ buf []byte }

func (p *fingerprinter) sum(f *Finding) [16]byte {
	p.buf = p.buf[:0]
	for i, part := range [...]string{f.Check, f.Subject, f.SPKISHA256, f.CertSHA256, f.Endpoint} {
		if i > 0 {
			p.buf = append(p.buf, 0)
		}
		p.buf = append(p.buf, part...)
	}
	h := sha256.Sum256(p.buf)
	return [16]byte(h[:16])
}
