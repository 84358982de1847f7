package reconcile

import (
	"cmp"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/store/records"
)

// Revocation is what is known of one certificate's revocation.
type Revocation struct {
	CertSHA256 string    `json:"cert_sha256"`
	Serial     string    `json:"serial"`
	RevokedAt  time.Time `json:"revoked_at"`
	Reason     string    `json:"reason"`
	Source     string    `json:"source"` // keyaudit revoke, OCSP, CRL
}

// Destruction is a key destruction keyaudit carried out for an approved
// plan (reconcile/destroy), read back from the audit log: which objects
// of which inventory source, what the source answered, and whether a read
// of the source has shown the key gone since.
type Destruction struct {
	PlanID     string    `json:"plan_id"`
	Action     int       `json:"action"`
	Source     string    `json:"source"`
	SPKISHA256 string    `json:"spki_sha256,omitempty"`
	Name       string    `json:"name"`
	Refs       []string  `json:"refs"`
	Outcome    string    `json:"outcome"` // destroyed, scheduled, failed
	At         time.Time `json:"at"`
	// DeletionDate is when a scheduled deletion (AWS KMS) happens.
	DeletionDate *time.Time `json:"deletion_date,omitempty"`
	// Verified is set once a complete read of the source no longer
	// listed any of Refs.
	Verified   bool      `json:"verified"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	// Remaining says what the last verification read still found.
	Remaining string `json:"remaining,omitempty"`
}

// NotificationFailure is one route's sink whose notifications keep
// failing: how many, how often the worst was tried, the last error.
type NotificationFailure struct {
	Route     string    `json:"route"`
	Sink      string    `json:"sink"`
	Pending   int       `json:"pending"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	Oldest    time.Time `json:"oldest"`
}

// LogIssue is a CT log that misbehaved (or could not be verified) during
// a sync: its position did not move.
type LogIssue struct {
	Log     string         `json:"log"`
	Kind    string         `json:"kind"` // misbehaviour, unreachable …
	Message string         `json:"message"`
	Detail  map[string]any `json:"detail,omitempty"`
}

// SourceStatus is how one input of the snapshot ended.
type SourceStatus struct {
	Kind   string `json:"kind"` // scan, inventory, caa, ct
	RunID  int64  `json:"run_id"`
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
}

// Snapshot is everything one reconcile run looks at.
type Snapshot struct {
	// Now is the reconcile clock (injected; tests pin it).
	Now    time.Time
	Policy Policy

	Observations []records.Observation
	Keys         []records.Key
	// KeySources names the inventory source each of Keys was read from
	// (by index); it may be shorter than Keys for keys built by hand.
	KeySources []string
	// Destructions are the key destructions keyaudit carried out.
	Destructions []Destruction
	// NotificationFailures are the outbox's notifications that failed
	// at least the configured number of times, by route and sink.
	NotificationFailures []NotificationFailure
	CAA                  []records.CAAResult
	Sightings            []records.Sighting
	LogIssues            []LogIssue
	Revocations          []Revocation
	// Watched are the organisation's domains (config "watch").
	Watched []string
	// Sources says which inputs were complete; checks that reason from
	// absence (orphaned keys) hold back when an input is partial.
	Sources []SourceStatus
	// CAs maps issuer DNs to CAA identifiers; nil means DefaultCATable.
	CAs *CATable
	// Suppressions in force for this run (set by Run from its Options),
	// so that expired ones can be reported.
	Suppressions []Suppression

	// CertDER holds the DER of the leaf certificates served in the scan
	// runs, by certificate sha256, for checks that need the whole
	// certificate (zlint). Leaves without DER are skipped by those checks.
	CertDER map[string][]byte
	// Endpoints is the estate view of every endpoint ever attempted (its
	// latest attempt, what it last served, whether it is gone);
	// Observations holds the effective observation of each endpoint not
	// gone (EndpointState.Effective), which is what most checks read.
	Endpoints []EndpointState
	// Disappeared are keys an inventory source held at its previous
	// complete read and no longer holds at its latest.
	Disappeared []DisappearedKey
	// Appeared are keys a source lists at its latest complete read and
	// did not at its previous one; Changed are keys both reads list whose
	// record differs; TokenChanges are PKCS#11 tokens of a source whose
	// label, serial, model or versions differ between the two reads. All three are empty
	// for a source with a single complete read.
	Appeared     []AppearedKey
	Changed      []KeyChange
	TokenChanges []TokenChange
	// Departed says why a certificate left the view (expired, revoked),
	// by certificate sha256, for the evidence of resolved findings.
	Departed map[string]string
	// Validity holds each endpoint's latest validity result (chain
	// trust, hostname, revocation); ValidityOf matches it to what the
	// endpoint serves now.
	Validity []records.Validity

	idx *index
}

type index struct {
	keysBySPKI   map[string][]*records.Key
	seenSPKI     map[string]bool // on an endpoint or in CT
	caaByName    map[string]*records.CAAResult
	revokedCerts map[string]*Revocation
	deployed     []*Deployed // DeployedLeaves, once built
	// endpointByName maps endpoint names (and their canonical form) to
	// their state, built on first use.
	endpointByName map[string]*EndpointState
	// validity maps endpoint|cert to its validity result, built on first use.
	validity map[string]*records.Validity
}

// prepare builds every index the checks share, so that checks can run
// concurrently over a snapshot they only read.
func (s *Snapshot) prepare() {
	s.DeployedLeaves() // builds the index too
	s.CATable()
	s.validityIndex()
}

// Reindex drops the indexes built so far: call it after changing the
// snapshot's inputs.
func (s *Snapshot) Reindex() { s.idx = nil }

func (s *Snapshot) index() *index {
	if s.idx != nil {
		return s.idx
	}
	ix := &index{keysBySPKI: make(map[string][]*records.Key, len(s.Keys)), seenSPKI: make(map[string]bool, len(s.Observations)+len(s.Sightings)),
		caaByName: map[string]*records.CAAResult{}, revokedCerts: map[string]*Revocation{}}
	// One backing array for the usual one key per SPKI; only a key held
	// twice (two tokens, a certificate object beside its key) grows its
	// own slice.
	flat := make([]*records.Key, len(s.Keys))
	for i := range s.Keys {
		k := &s.Keys[i]
		if k.SPKISHA256 == "" {
			continue
		}
		if prev, ok := ix.keysBySPKI[k.SPKISHA256]; ok {
			ix.keysBySPKI[k.SPKISHA256] = append(prev, k)
			continue
		}
		flat[i] = k
		ix.keysBySPKI[k.SPKISHA256] = flat[i : i+1 : i+1]
	}
	for _, o := range s.Observations {
		for _, c := range o.Chain {
			ix.seenSPKI[c.SPKISHA256] = true
		}
	}
	for _, sg := range s.Sightings {
		ix.seenSPKI[sg.SPKISHA256] = true
	}
	for i := range s.CAA {
		r := &s.CAA[i]
		if r.CA == "" { // per-name results; a decision beats a failed lookup
			n := strings.TrimPrefix(strings.ToLower(r.Name), "*.")
			if prev, ok := ix.caaByName[n]; ok && prev.Error == nil && r.Error != nil {
				continue
			}
			ix.caaByName[n] = r
		}
	}
	for i := range s.Revocations {
		ix.revokedCerts[s.Revocations[i].CertSHA256] = &s.Revocations[i]
	}
	s.idx = ix
	return ix
}

// KeysBySPKI returns the inventory keys with this spki_sha256.
func (s *Snapshot) KeysBySPKI(spki string) []*records.Key { return s.index().keysBySPKI[spki] }

// Managed reports whether any inventory source holds the key.
func (s *Snapshot) Managed(spki string) bool { return len(s.index().keysBySPKI[spki]) > 0 }

// KeySource is the inventory source Keys[i] was read from ("" when not
// recorded).
func (s *Snapshot) KeySource(i int) string {
	if i < len(s.KeySources) {
		return s.KeySources[i]
	}
	return ""
}

// InUse says whether a key is served on an endpoint or appears in a CT
// certificate that has not expired, and how: a key in use must not be
// destroyed.
func (s *Snapshot) InUse(spki string) (string, bool) {
	if spki == "" {
		return "", false
	}
	for _, o := range s.Observations {
		for _, c := range o.Chain {
			if c.SPKISHA256 == spki {
				return "served on " + net.JoinHostPort(cmp.Or(o.Host, o.IP), strconv.Itoa(o.Port)), true
			}
		}
	}
	for _, sg := range s.Sightings {
		if sg.SPKISHA256 == spki && (sg.NotAfter.IsZero() || sg.NotAfter.After(s.Now)) {
			return fmt.Sprintf("in CT-logged certificate %s (log %s, index %d) valid until %s", short(sg.CertSHA256), sg.Log, sg.Index, sg.NotAfter.UTC().Format(time.DateOnly)), true
		}
	}
	return "", false
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// Seen reports whether the key was served on an endpoint or logged in CT.
func (s *Snapshot) Seen(spki string) bool { return s.index().seenSPKI[spki] }

// CAAFor returns the per-name CAA result for name, if one was looked up.
// A wildcard name "*.example.com" is looked up as "example.com" (RFC 8659
// §3: the relevant RRset of a wildcard is that of its base name).
func (s *Snapshot) CAAFor(name string) (*records.CAAResult, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	name = strings.TrimPrefix(name, "*.")
	r, ok := s.index().caaByName[name]
	return r, ok
}

// CATable returns the issuer → CAA identifier table in use.
func (s *Snapshot) CATable() *CATable {
	if s.CAs == nil {
		s.CAs = DefaultCATable()
	}
	return s.CAs
}

// Revoked returns what is known of a certificate's revocation.
func (s *Snapshot) Revoked(certSHA256 string) (*Revocation, bool) {
	r, ok := s.index().revokedCerts[certSHA256]
	return r, ok
}

// SourceComplete reports whether every run of kind in the snapshot was
// complete (true when there is none: nothing partial to hold back for).
func (s *Snapshot) SourceComplete(kind string) bool {
	for _, st := range s.Sources {
		if st.Kind == kind && st.Status != "complete" {
			return false
		}
	}
	return true
}

// HasSource reports whether the snapshot includes a run of kind.
func (s *Snapshot) HasSource(kind string) bool {
	for _, st := range s.Sources {
		if st.Kind == kind {
			return true
		}
	}
	return false
}

// Watches reports whether name falls under a watched domain ("example.com"
// covers it and its subdomains; ".example.com" only subdomains).
func (s *Snapshot) Watches(name string) bool {
	name = strings.ToLower(strings.TrimPrefix(strings.TrimSuffix(name, "."), "*."))
	for _, w := range s.Watched {
		w = strings.ToLower(strings.TrimSuffix(w, "."))
		if strings.HasPrefix(w, ".") {
			if strings.HasSuffix(name, w) {
				return true
			}
			continue
		}
		if name == w || strings.HasSuffix(name, "."+w) {
			return true
		}
	}
	return false
}

// DisappearedKey is a key a source stopped listing between two complete
// reads.
type DisappearedKey struct {
	Key records.Key
	// Source names the inventory source; LastRun is the complete read that
	// still listed the key, Run the first complete read without it.
	Source       string
	LastRun, Run int64
}

// AppearedKey is a key a source started listing between two complete
// reads.
type AppearedKey struct {
	Key records.Key
	// Source names the inventory source; PrevRun is the complete read
	// without the key, Run the latest complete read, which lists it.
	Source       string
	PrevRun, Run int64
}

// KeyChange is a key (the same ref within a source) whose record differs
// between a source's previous complete read (Before, PrevRun) and its
// latest (After, Run).
type KeyChange struct {
	Before, After records.Key
	Source        string
	PrevRun, Run  int64
}

// TokenChange is a PKCS#11 token of a source that kept its label but
// not its serial (another device), or its serial but not its label,
// model or versions (re-initialised, updated), between two complete
// reads. Reads from before tokens were recorded in the source status
// give only the label and serial their keys carry.
type TokenChange struct {
	Before, After records.Token
	// Fields names what changed (label, serial, model, firmware_version…).
	Fields       []string
	Source       string
	PrevRun, Run int64
}

// Deployed is a leaf certificate seen on one or more endpoints.
type Deployed struct {
	Cert      *certinfo.Cert // the observation's own leaf: shared, do not modify
	Endpoints []string       // protocol://target (ip)
	Obs       []*records.Observation
}

// DeployedLeaves groups the leaves served on endpoints by certificate,
// in first-seen order. It is built once per snapshot and shared by the
// checks, which must not modify it.
func (s *Snapshot) DeployedLeaves() []*Deployed {
	ix := s.index()
	if ix.deployed == nil {
		ix.deployed = s.deployedLeaves()
	}
	return ix.deployed
}

func (s *Snapshot) deployedLeaves() []*Deployed {
	n := len(s.Observations)
	byCert := make(map[string]*Deployed, n)
	out := make([]*Deployed, 0, n)
	// One allocation each for the groups and their first endpoint (most
	// certificates are served on one endpoint); capacity-limited slices
	// make a second endpoint's append copy rather than overwrite.
	slab := make([]Deployed, 0, n)
	names := make([]string, n)
	obs := make([]*records.Observation, n)
	for i := range s.Observations {
		o := &s.Observations[i]
		l := o.Leaf()
		if l == nil {
			continue
		}
		names[i], obs[i] = EndpointName(o), o
		d, ok := byCert[l.SHA256]
		if !ok {
			slab = append(slab, Deployed{Cert: l, Endpoints: names[i : i+1 : i+1], Obs: obs[i : i+1 : i+1]})
			d = &slab[len(slab)-1]
			byCert[l.SHA256] = d
			out = append(out, d)
			continue
		}
		d.Endpoints = append(d.Endpoints, names[i])
		d.Obs = append(d.Obs, o)
	}
	return out
}

// EndpointName renders an observation's endpoint for findings.
func EndpointName(o *records.Observation) string {
	ep := o.Protocol + "://" + o.Target
	if o.IP != "" && o.Host != o.IP {
		ep += " (" + o.IP + ")"
	}
	if sni := o.ExtraSNI(); sni != "" {
		ep += " [" + sni + "]"
	}
	return ep
}
