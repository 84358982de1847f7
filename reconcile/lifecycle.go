package reconcile

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"time"
)

// Finding lifecycle: open → resolved → reopened. A finding resolves only
// on evidence it names; a finding whose check did not run is untouched;
// first_seen never moves.

// Lifecycle states.
const (
	StateOpen     = "open"
	StateResolved = "resolved"
)

// Lifecycle events.
const (
	EventOpened    = "opened"
	EventResolved  = "resolved"
	EventReopened  = "reopened"
	EventEscalated = "escalated"
)

// Tracked is a finding as the lifecycle keeps it.
type Tracked struct {
	Finding   Finding        `json:"finding"`
	State     string         `json:"state"`
	FirstSeen time.Time      `json:"first_seen"`
	LastSeen  time.Time      `json:"last_seen"`
	Since     time.Time      `json:"since"`
	Evidence  map[string]any `json:"evidence,omitempty"`
}

// Transition is one lifecycle event.
type Transition struct {
	Fingerprint string         `json:"fingerprint"`
	Event       string         `json:"event"`
	Evidence    map[string]any `json:"evidence,omitempty"`
	Finding     Finding        `json:"finding"`
}

// Advance applies one reconcile's result to the tracked findings. ran
// says whether a check ran in this reconcile (findings of other checks
// are left alone). It returns the tracked findings it changed or saw,
// and the transitions.
func Advance(s *Snapshot, res Result, ran func(check string) bool, stored map[string]Tracked) ([]Tracked, []Transition) {
	now := s.Now.UTC()
	var out []Tracked
	var events []Transition
	seen := make(map[string]bool, len(res.Findings))
	for _, f := range res.Findings {
		fp := f.Fingerprint()
		seen[fp] = true
		t, had := stored[fp]
		if had {
			f.FirstSeen = t.FirstSeen
		} else {
			t = Tracked{FirstSeen: f.FirstSeen}
			if t.FirstSeen.IsZero() {
				t.FirstSeen, f.FirstSeen = now, now
			}
		}
		prevSev := t.Finding.Severity
		t.Finding, t.LastSeen = f, now
		switch {
		case f.Suppressed && (!had || t.State == StateOpen):
			ev := map[string]any{"reason": "suppressed", "suppressed_by": f.SuppressedBy}
			if had {
				events = append(events, Transition{fp, EventResolved, ev, f})
			}
			t.State, t.Since, t.Evidence = StateResolved, now, ev
		case f.Suppressed:
			// stays resolved (suppressed)
		case !had:
			t.State, t.Since, t.Evidence = StateOpen, now, nil
			events = append(events, Transition{fp, EventOpened, nil, f})
		case t.State == StateResolved:
			ev := map[string]any{"previous_resolution": t.Evidence}
			t.State, t.Since, t.Evidence = StateOpen, now, nil
			events = append(events, Transition{fp, EventReopened, ev, f})
		case prevSev != "" && f.Severity.Rank() > prevSev.Rank():
			events = append(events, Transition{fp, EventEscalated, map[string]any{"from": prevSev, "to": f.Severity}, f})
		}
		out = append(out, t)
	}
	fps := make([]string, 0, len(stored))
	for fp := range stored {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	for _, fp := range fps {
		t := stored[fp]
		if seen[fp] || t.State != StateOpen || !ran(t.Finding.Check) {
			continue
		}
		ev := s.ResolutionEvidence(t)
		if c, ok := Lookup(t.Finding.Check); ok && c.Sticky && ev["reason"] == "no-longer-reported" {
			continue // an event stays open until its subject says otherwise
		}
		t.State, t.Since, t.Evidence = StateResolved, now, ev
		out = append(out, t)
		events = append(events, Transition{fp, EventResolved, ev, t.Finding})
	}
	return out, events
}

// ResolutionEvidence names why a tracked finding is no longer reported:
// what the estate now shows about its subject.
func (s *Snapshot) ResolutionEvidence(t Tracked) map[string]any {
	f := t.Finding
	if f.CertSHA256 != "" {
		if r, ok := s.Revoked(f.CertSHA256); ok {
			return map[string]any{"reason": "revoked", "detail": fmt.Sprintf("certificate revoked %s by %s (%s)", r.RevokedAt.UTC().Format(time.RFC3339), r.Source, r.Reason)}
		}
		if why, ok := s.Departed[f.CertSHA256]; ok {
			return map[string]any{"reason": "left-estate", "detail": why}
		}
	}
	if f.Endpoint != "" {
		if e := s.endpointNamed(f.Endpoint); e != nil {
			switch {
			case e.Gone:
				return map[string]any{"reason": "endpoint-gone", "detail": e.GoneEvidence()}
			case e.Latest != nil && e.Latest.Time.After(t.LastSeen):
				o := e.Latest
				d := map[string]any{"reason": "rescanned", "run": e.LatestRun, "time": o.Time}
				if l := o.Leaf(); l != nil {
					d["detail"] = fmt.Sprintf("re-scanned %s (run %d): now serves %s (cert %.16s…, key %.16s…)", o.Time.UTC().Format(time.RFC3339), e.LatestRun, l.Subject, l.SHA256, l.SPKISHA256)
					d["cert_sha256"], d["spki_sha256"] = l.SHA256, l.SPKISHA256
				} else {
					d["detail"] = fmt.Sprintf("re-scanned %s (run %d): %s", o.Time.UTC().Format(time.RFC3339), e.LatestRun, describeFailure(o.Error))
				}
				return d
			}
		}
	}
	if f.SPKISHA256 != "" {
		if ks := s.KeysBySPKI(f.SPKISHA256); len(ks) > 0 {
			k := ks[0]
			return map[string]any{"reason": "key-in-inventory", "detail": fmt.Sprintf("key now in inventory (%s %s %s)", k.Source, k.Token, k.Label)}
		}
	}
	if f.CertSHA256 != "" && !s.certKnown(f.CertSHA256) {
		if na, ok := f.Evidence["not_after"]; ok {
			return map[string]any{"reason": "left-estate", "detail": fmt.Sprintf("certificate (not after %v) is no longer served or logged", na)}
		}
	}
	return map[string]any{"reason": "no-longer-reported",
		"detail": fmt.Sprintf("%s no longer reports it over the current estate (policy, configuration or inputs changed)", f.Check),
		"inputs": s.Sources}
}

func describeFailure(e interface{ Error() string }) string {
	if e == nil {
		return "served no certificate"
	}
	return "served no TLS: " + e.Error()
}

func (s *Snapshot) certKnown(sha string) bool {
	for _, d := range s.DeployedLeaves() {
		if d.Cert.SHA256 == sha {
			return true
		}
	}
	for i := range s.Sightings {
		if s.Sightings[i].CertSHA256 == sha {
			return true
		}
	}
	return false
}

// endpointNamed finds the endpoint a finding names (either of the names
// a merged finding lists).
func (s *Snapshot) endpointNamed(name string) *EndpointState {
	ix := s.index()
	if ix.endpointByName == nil {
		ix.endpointByName = make(map[string]*EndpointState, 2*len(s.Endpoints))
		for i := range s.Endpoints {
			e := &s.Endpoints[i]
			o := e.Latest
			if e.Served != nil {
				o = e.Served
			}
			if o == nil {
				continue
			}
			n := EndpointName(o)
			ix.endpointByName[n] = e
			if c := CanonicalEndpoint(n); c != n {
				if _, ok := ix.endpointByName[c]; !ok {
					ix.endpointByName[c] = e
				}
			}
		}
	}
	if e, ok := ix.endpointByName[name]; ok {
		return e
	}
	return ix.endpointByName[CanonicalEndpoint(name)]
}

// CanonicalEndpoint reduces an endpoint name ("tls://host:443 (192.0.2.1)"
// or "tls://192.0.2.1:443") to protocol://IP:port, so the same endpoint
// reached by name and by address compares equal; a name asked for by SNI
// on an address ("tls://192.0.2.1:443 [www.example.com]") stays part of
// it. Other names (CT log entries, keys) are returned unchanged.
func CanonicalEndpoint(ep string) string {
	proto, rest, ok := strings.Cut(ep, "://")
	if !ok {
		return ep
	}
	sni := ""
	if i := strings.LastIndex(rest, " ["); i >= 0 && strings.HasSuffix(rest, "]") {
		rest, sni = rest[:i], rest[i:]
	}
	target, ip := rest, ""
	if i := strings.LastIndex(rest, " ("); i >= 0 && strings.HasSuffix(rest, ")") {
		target, ip = rest[:i], rest[i+2:len(rest)-1]
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return ep
	}
	if ip == "" {
		ip = host
	}
	if net.ParseIP(ip) == nil {
		return ep
	}
	return proto + "://" + net.JoinHostPort(ip, port) + sni
}
