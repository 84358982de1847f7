package ctlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/time/rate"
)

// Config configures a Monitor. The zero value of every field is the
// documented default.
type Config struct {
	// Watch selects the sightings; nil or empty matches nothing (the
	// monitor still verifies and advances).
	Watch *Watchlist
	// BatchSize is the number of entries asked per RFC 6962 get-entries
	// request (default 256; logs may return fewer). Static logs are read
	// a 256-entry tile at a time.
	BatchSize int
	// Parallel is the number of requests in flight per log (default 4).
	// Memory is bounded by Parallel × batch, not by the log's size.
	Parallel int
	// CommitEvery is the most entries verified between two commits of the
	// position (default 16384). Every commit costs one consistency proof.
	CommitEvery int
	// CommitSightings is the most sightings held before a commit (default
	// 4096). A broad watch, where most entries match, commits that often,
	// so the memory and the store transaction a commit needs stay bounded
	// by it rather than by CommitEvery entries of certificates.
	CommitSightings int
	// RateLimit is the request rate per log, per second (default 50);
	// Burst its burst (default Parallel).
	RateLimit float64
	Burst     int
	// Retries is how often a request failing with 429, 5xx or a transport
	// error is retried (default 6; negative: never), with jittered
	// exponential backoff from MinBackoff (default 500ms) to MaxBackoff
	// (default 30s), or the log's Retry-After.
	Retries    int
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Timeout bounds each request (default 60s).
	Timeout time.Duration
	// Transport is the base HTTP transport (default: a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	// UserAgent is sent with every request.
	UserAgent string
	// MaxEntries bounds one Sync: it stops (after committing) once this
	// many entries of a log were processed; 0 means catch up fully.
	MaxEntries uint64
	// DedupWindow is how many recent sightings per log are remembered to
	// drop a certificate whose precertificate was already reported
	// (default 4096).
	DedupWindow int
	// FetchIssuers fetches and checks the issuer of each static-ct-api
	// sighting (issuer/<sha256>).
	FetchIssuers bool
	// Now is the clock signed heads' timestamps are held against
	// (default time.Now).
	Now func() time.Time
	// MaxClockSkew is how far ahead of Now a signed head's timestamp may
	// be (default 5 minutes): a head signed further in the future is
	// misbehaviour.
	MaxClockSkew time.Duration
	// Progress, when set, is called after each batch.
	Progress func(Progress)
	// Logger receives debug and warning lines (nil discards).
	Logger *slog.Logger
}

// Progress reports how far a log's catch-up is.
type Progress struct {
	Log     Log
	Done    uint64 // entries [0, Done) processed
	Target  uint64 // the tree size being caught up to
	Started uint64 // where this sync started
}

// Monitor follows logs.
type Monitor struct {
	cfg Config
	log *slog.Logger
}

// New validates cfg and returns a Monitor.
func New(cfg Config) (*Monitor, error) {
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 256
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 4
	}
	if cfg.CommitEvery == 0 {
		cfg.CommitEvery = 16384
	}
	if cfg.CommitSightings == 0 {
		cfg.CommitSightings = 4096
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 50
	}
	if cfg.Burst == 0 {
		cfg.Burst = cfg.Parallel
	}
	if cfg.Retries == 0 {
		cfg.Retries = 6
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.DedupWindow == 0 {
		cfg.DedupWindow = 4096
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "keyaudit-ct-monitor (+https://github.com/keyaudit/keyaudit)"
	}
	switch {
	case cfg.BatchSize < 1 || cfg.BatchSize > maxEntriesPerFetch:
		return nil, fmt.Errorf("ctlog: batch size %d out of range 1..%d", cfg.BatchSize, maxEntriesPerFetch)
	case cfg.Parallel < 1 || cfg.Parallel > 64:
		return nil, fmt.Errorf("ctlog: parallel %d out of range 1..64", cfg.Parallel)
	case cfg.CommitEvery < 1:
		return nil, errors.New("ctlog: commit interval must be positive")
	case cfg.CommitSightings < 1:
		return nil, errors.New("ctlog: sightings per commit must be positive")
	case cfg.RateLimit < 0 || cfg.Burst < 1:
		return nil, errors.New("ctlog: rate limit and burst must be positive")
	case cfg.MinBackoff > cfg.MaxBackoff:
		return nil, errors.New("ctlog: min backoff above max backoff")
	case cfg.DedupWindow < 1:
		return nil, errors.New("ctlog: dedup window must be positive")
	case cfg.MaxClockSkew < 0:
		return nil, errors.New("ctlog: clock skew must not be negative")
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Monitor{cfg: cfg, log: lg}, nil
}

// DefaultMaxClockSkew is how far in the future a signed head may be
// dated when Config.MaxClockSkew is not set.
const DefaultMaxClockSkew = 5 * time.Minute

// maxEntriesPerFetch caps one get-entries request.
const maxEntriesPerFetch = 1024

// Start is where to begin a log that has no stored position.
type Start struct {
	kind  int // 0 start, 1 end, 2 index
	index uint64
}

// Start positions.
var (
	FromStart = Start{kind: 0}
	FromEnd   = Start{kind: 1}
)

// FromIndex starts at entry i.
func FromIndex(i uint64) Start { return Start{kind: 2, index: i} }

// ParseStart parses --from: "start", "end" or an entry index.
func ParseStart(s string) (Start, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "start", "0":
		return FromStart, nil
	case "end":
		return FromEnd, nil
	}
	i, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return Start{}, fmt.Errorf("ctlog: --from %q: want start, end or an entry index", s)
	}
	return FromIndex(i), nil
}

func (s Start) String() string {
	switch s.kind {
	case 1:
		return "end"
	case 2:
		return strconv.FormatUint(s.index, 10)
	}
	return "start"
}

// Sink receives a log's verified progress. A store-backed Sink writes
// state and sightings in one transaction.
type Sink interface {
	// Load returns the state last committed for log, or nil.
	Load(ctx context.Context, log Log) ([]byte, error)
	// Commit durably records state together with the sightings of the
	// entries it newly covers, atomically. The slice is reused once
	// Commit returns: a sink keeps copies of its elements, not the slice.
	Commit(ctx context.Context, log Log, state []byte, sightings []Sighting) error
}

// Result summarises one Sync. Entries and Sightings count what was
// committed: an interrupted Sync reports what its Sink holds, not what
// was fetched and lost.
type Result struct {
	Log       Log           `json:"log"`
	From      uint64        `json:"from"`
	To        uint64        `json:"to"`
	Head      Head          `json:"head"`
	Entries   uint64        `json:"entries"`
	Sightings int           `json:"sightings"`
	Dups      uint64        `json:"duplicates"`
	Unparsed  uint64        `json:"unparsed"`
	Elapsed   time.Duration `json:"elapsed"`
}

type source interface {
	head(ctx context.Context) (Head, error)
	// entries fetches [start, end) (or a prefix of it). It may read the
	// response into buf, and returns the buffer it read into (body): the
	// caller may hand it to a later call once it is done with the
	// entries, which can point into it.
	entries(ctx context.Context, start, end, treeSize uint64, buf []byte) (es []Entry, body []byte, err error)
	consistency(ctx context.Context, size1 uint64, h Head) ([][]byte, error)
	frontier(ctx context.Context, size uint64, h Head) (*compact.Range, error)
	issuer(ctx context.Context, fp [32]byte) ([]byte, error)
}

func (m *Monitor) httpClient() *http.Client {
	base := m.cfg.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = m.cfg.Parallel * 2
		base = t
	}
	return &http.Client{
		Timeout: m.cfg.Timeout,
		Transport: &transport{
			base: base, limiter: rate.NewLimiter(rate.Limit(m.cfg.RateLimit), m.cfg.Burst),
			retries: m.cfg.Retries, minBackoff: m.cfg.MinBackoff, maxBackoff: m.cfg.MaxBackoff,
			maxBody: maxResponseBytes, log: m.log,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
}

func (m *Monitor) source(l Log) (source, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	hc := m.httpClient()
	switch l.Type {
	case Static:
		return newStaticSource(l, hc, m.cfg.UserAgent), nil
	default:
		return newRFCSource(l, hc, m.cfg.UserAgent, m.cfg.BatchSize, m.log)
	}
}

// Sync catches log up to its current signed head: it verifies the head,
// fetches, verifies and matches every new entry and commits the position
// with the sightings through sink, at least every CommitEvery entries.
// from applies only to a log without a stored position.
//
// On misbehaviour it returns a *MisbehaviourError and commits nothing
// past the last verified point.
func (m *Monitor) Sync(ctx context.Context, l Log, sink Sink, from Start) (Result, error) {
	src, err := m.source(l)
	if err != nil {
		return Result{Log: l}, err
	}
	return m.sync(ctx, l, src, sink, from)
}

// Follow syncs log again and again, every poll, until ctx ends or the log
// misbehaves. Transient failures are logged and retried at the next poll.
func (m *Monitor) Follow(ctx context.Context, l Log, sink Sink, from Start, poll time.Duration, each func(Result)) error {
	src, err := m.source(l)
	if err != nil {
		return err
	}
	if poll <= 0 {
		poll = 30 * time.Second
	}
	for {
		res, err := m.sync(ctx, l, src, sink, from)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var mis *MisbehaviourError
		if errors.As(err, &mis) {
			return err
		}
		if err != nil {
			m.log.Warn("ctlog: sync failed; retrying at next poll", "log", l.URL, "err", err)
		} else if each != nil {
			each(res)
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (m *Monitor) loadState(ctx context.Context, l Log, sink Sink) (*State, error) {
	b, err := sink.Load(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("ctlog: %s: load position: %w", l.URL, err)
	}
	if len(b) == 0 {
		return nil, nil
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("ctlog: %s: stored position: %w", l.URL, err)
	}
	if st.Version != stateVersion || st.LogID != l.ID || st.Size > st.Head.Size {
		return nil, fmt.Errorf("ctlog: %s: stored position is not for this log or is corrupt", l.URL)
	}
	r, err := st.compactRange()
	if err != nil {
		return nil, fmt.Errorf("ctlog: %s: stored position: %w", l.URL, err)
	}
	if st.Size == st.Head.Size && !bytes.Equal(rootOf(r), st.Head.Root) {
		return nil, fmt.Errorf("ctlog: %s: stored position does not match its head", l.URL)
	}
	return &st, nil
}

func (m *Monitor) sync(ctx context.Context, l Log, src source, sink Sink, from Start) (res Result, err error) {
	began := time.Now()
	res.Log = l
	defer func() { res.Elapsed = time.Since(began) }()

	st, err := m.loadState(ctx, l, sink)
	if err != nil {
		return res, err
	}
	var trusted *Head
	if st != nil {
		trusted = st.Head.ptr()
	}
	withHeads := func(err error, served *Head) error {
		var mis *MisbehaviourError
		if errors.As(err, &mis) {
			if mis.Trusted == nil {
				mis.Trusted = trusted.ptr()
			}
			if mis.Served == nil {
				mis.Served = served.ptr()
			}
		}
		return err
	}
	mis := func(kind MisbehaviourKind, index int64, detail string, err error, served *Head) error {
		return &MisbehaviourError{LogURL: l.URL, LogID: l.ID, Kind: kind, Index: index, Detail: detail, Err: err,
			Trusted: trusted.ptr(), Served: served.ptr()}
	}

	served, err := src.head(ctx)
	if err != nil {
		if trusted == nil {
			err = notALog(l, err)
		}
		return res, withHeads(err, nil)
	}
	res.Head = served
	if err := m.checkHead(l, trusted, served); err != nil {
		return res, err
	}

	var rng *compact.Range
	var target Head
	if st == nil {
		start := uint64(0)
		switch from.kind {
		case 1:
			start = served.Size
		case 2:
			if from.index > served.Size {
				return res, fmt.Errorf("ctlog: %s: --from %d is beyond the tree size %d", l.URL, from.index, served.Size)
			}
			start = from.index
		}
		rng, err = src.frontier(ctx, start, served)
		if err != nil {
			return res, withHeads(err, &served)
		}
		if err := m.verifyPrefix(ctx, l, src, rng, served); err != nil {
			return res, withHeads(err, &served)
		}
		target = served
		st = &State{Version: stateVersion, LogID: l.ID, Size: start, Range: rng.Hashes(), Head: served}
		// Record the starting point, so a --from end is kept even when the
		// first catch-up finds nothing new.
		if err := m.commit(ctx, l, sink, st, nil); err != nil {
			return res, err
		}
		trusted = st.Head.ptr()
	} else {
		if rng, err = st.compactRange(); err != nil {
			return res, err
		}
		old := st.Head
		switch {
		case served.Size == old.Size:
			if !bytes.Equal(served.Root, old.Root) {
				return res, mis(InconsistentHeads, -1, fmt.Sprintf("two signed heads of size %d with different roots", old.Size), nil, &served)
			}
			target = old
		case served.Size > old.Size:
			p, err := src.consistency(ctx, old.Size, served)
			if err != nil {
				return res, withHeads(err, &served)
			}
			if err := verifyConsistency(old.Size, served.Size, p, old.Root, served.Root); err != nil {
				return res, mis(InconsistentHeads, -1, fmt.Sprintf("new head (size %d) is not consistent with the verified head (size %d)", served.Size, old.Size), err, &served)
			}
			target = served
		default:
			// An older head (a cache serving a stale checkpoint) is fine
			// if it is a prefix of what was verified. A log that cannot
			// prove it any more — the verified tree's tiles or the
			// consistency proof to it are refused, not merely failing —
			// went back to a shorter history.
			p, err := src.consistency(ctx, served.Size, old)
			if err != nil {
				if notServed(err) {
					return res, mis(Rollback, -1, fmt.Sprintf("signed head went back from size %d to size %d, and the log no longer serves the verified tree", old.Size, served.Size), err, &served)
				}
				return res, withHeads(err, &served)
			}
			if err := verifyConsistency(served.Size, old.Size, p, served.Root, old.Root); err != nil {
				return res, mis(InconsistentHeads, -1, fmt.Sprintf("served head (size %d) is smaller than and not consistent with the verified head (size %d)", served.Size, old.Size), err, &served)
			}
			target = old
		}
	}
	res.From, res.To = st.Size, st.Size
	if st.Size >= target.Size {
		if !bytes.Equal(st.Head.Root, target.Root) || st.Head.Size != target.Size {
			st.Head = target
			if err := m.commit(ctx, l, sink, st, nil); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	return m.catchUp(ctx, l, src, sink, st, rng, target, &res, mis)
}

// verifyPrefix checks that rng (a range [0, n)) is a prefix of tree h.
func (m *Monitor) verifyPrefix(ctx context.Context, l Log, src source, rng *compact.Range, h Head) error {
	root := rootOf(rng)
	if rng.End() == h.Size {
		if !bytes.Equal(root, h.Root) {
			return &MisbehaviourError{LogURL: l.URL, LogID: l.ID, Kind: RootMismatch, Index: -1, Detail: fmt.Sprintf("the tree's first %d entries do not hash to the signed root", h.Size)}
		}
		return nil
	}
	p, err := src.consistency(ctx, rng.End(), h)
	if err != nil {
		return err
	}
	if err := verifyConsistency(rng.End(), h.Size, p, root, h.Root); err != nil {
		return &MisbehaviourError{LogURL: l.URL, LogID: l.ID, Kind: RootMismatch, Index: -1, Err: err,
			Detail: fmt.Sprintf("the tree's first %d entries are not a prefix of the signed tree of size %d", rng.End(), h.Size)}
	}
	return nil
}

func (m *Monitor) commit(ctx context.Context, l Log, sink Sink, st *State, ss []Sighting) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := sink.Commit(ctx, l, b, ss); err != nil {
		return fmt.Errorf("ctlog: %s: commit position %d: %w", l.URL, st.Size, err)
	}
	return nil
}

// batchResult is one in-flight fetch.
type batchResult struct {
	start, end uint64
	entries    []Entry
	body       []byte // what entries may point into
	err        error
	done       chan struct{}
}

func (m *Monitor) batchSize(l Log) uint64 {
	if l.Type == Static {
		return tileWidth
	}
	return uint64(m.cfg.BatchSize)
}

func (m *Monitor) catchUp(ctx context.Context, l Log, src source, sink Sink, st *State, rng *compact.Range, target Head, res *Result,
	mis func(MisbehaviourKind, int64, string, error, *Head) error) (Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Producer: batches in order, at most Parallel in flight.
	queue := make(chan *batchResult, m.cfg.Parallel)
	// Response buffers the consumer is done with, for the next fetches:
	// a broad watch read a fresh ≈400 KB per tile, a fifth of what it
	// allocated. A buffer is handed back only once every entry pointing
	// into it has been matched, and a sighting keeps a copy of its
	// certificate.
	free := make(chan []byte, m.cfg.Parallel+1)
	recycle := func(b []byte) {
		if cap(b) > 0 {
			select {
			case free <- b[:0]:
			default:
			}
		}
	}
	bs := m.batchSize(l)
	stop := target.Size
	if m.cfg.MaxEntries > 0 && st.Size+m.cfg.MaxEntries < stop {
		stop = st.Size + m.cfg.MaxEntries
	}
	go func() {
		defer close(queue)
		for s := st.Size; s < stop; {
			e := min(stop, s+bs)
			if l.Type == Static {
				e = min(stop, (s/tileWidth+1)*tileWidth)
			}
			b := &batchResult{start: s, end: e, done: make(chan struct{})}
			select {
			case queue <- b:
			case <-ctx.Done():
				return
			}
			go func() {
				defer close(b.done)
				var buf []byte
				select {
				case buf = <-free:
				default:
				}
				b.entries, b.body, b.err = m.fetchEntries(ctx, src, b.start, b.end, target.Size, buf)
			}()
			s = e
		}
	}()

	mt := &matcher{watch: m.cfg.Watch, log: l}
	dd := newDedupSet(m.cfg.DedupWindow, st.Dedup)
	var stats entryStats
	var pending []Sighting
	lastCommit := st.Size
	next := st.Size
	for b := range queue {
		select {
		case <-b.done:
		case <-ctx.Done():
			return *res, ctx.Err()
		}
		entries, body, err := b.entries, b.body, b.err
		for {
			if err != nil {
				var me *MisbehaviourError
				if errors.As(err, &me) {
					if me.Served == nil {
						me.Served = target.ptr()
					}
					if me.Trusted == nil {
						me.Trusted = st.Head.ptr()
					}
				}
				return *res, err
			}
			for i := range entries {
				e := &entries[i]
				if e.Index != next {
					return *res, mis(Malformed, int64(next), fmt.Sprintf("expected entry %d, got %d", next, e.Index), nil, &target)
				}
				if err := rng.Append(e.LeafHash[:], nil); err != nil {
					return *res, err
				}
				next++
				if s := mt.match(e, &stats); s != nil {
					if dd.has(s.TBSSHA256) {
						stats.dups++
						continue
					}
					dd.add(s.TBSSHA256)
					if m.cfg.FetchIssuers && l.Type == Static && len(e.Chain) > 0 {
						if _, err := src.issuer(ctx, e.Chain[0]); err != nil {
							m.log.Warn("ctlog: issuer not available", "log", l.URL, "index", e.Index, "err", err)
						}
					}
					pending = append(pending, *s)
				}
			}
			entries = nil // matched: nothing points into body any more
			recycle(body)
			if next >= b.end {
				break
			}
			// The log returned fewer entries than asked: fetch the rest.
			entries, body, err = m.fetchEntries(ctx, src, next, b.end, target.Size, nil)
		}
		if m.cfg.Progress != nil {
			m.cfg.Progress(Progress{Log: l, Done: next, Target: target.Size, Started: res.From})
		}
		if next-lastCommit < uint64(m.cfg.CommitEvery) && len(pending) < m.cfg.CommitSightings && next < stop {
			continue
		}
		// Verify what was fetched against the signed head before
		// anything of it is committed.
		root := rootOf(rng)
		if next == target.Size {
			if !bytes.Equal(root, target.Root) {
				return *res, mis(RootMismatch, int64(lastCommit),
					fmt.Sprintf("entries %d..%d do not hash to the signed root of size %d", lastCommit, next-1, target.Size), nil, &target)
			}
		} else {
			p, err := src.consistency(ctx, next, target)
			if err != nil {
				return *res, withServed(err, st.Head, target)
			}
			if err := verifyConsistency(next, target.Size, p, root, target.Root); err != nil {
				return *res, mis(RootMismatch, int64(lastCommit),
					fmt.Sprintf("entries %d..%d are not in the signed tree of size %d", lastCommit, next-1, target.Size), err, &target)
			}
		}
		st.Size, st.Range, st.Head, st.Dedup = next, rng.Hashes(), target, dd.keys()
		if err := m.commit(ctx, l, sink, st, pending); err != nil {
			return *res, err
		}
		res.Entries, res.To = next-res.From, next
		res.Sightings += len(pending)
		clear(pending) // let the committed certificates go
		pending = pending[:0]
		lastCommit = next
		res.Dups, res.Unparsed = stats.dups, stats.unparsed
	}
	if ctx.Err() != nil {
		return *res, ctx.Err()
	}
	res.Dups, res.Unparsed = stats.dups, stats.unparsed
	return *res, nil
}

// fetchEntries asks src for [start, end), retrying an empty answer a few
// times: a replica may lag behind the head another one signed.
func (m *Monitor) fetchEntries(ctx context.Context, src source, start, end, size uint64, buf []byte) ([]Entry, []byte, error) {
	for attempt := 0; ; attempt++ {
		es, body, err := src.entries(ctx, start, end, size, buf)
		if err == nil || !errors.Is(err, errNoEntries) || attempt >= 3 {
			return es, body, err
		}
		t := time.NewTimer(backoff(attempt, m.cfg.MinBackoff, m.cfg.MaxBackoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	}
}

func withServed(err error, trusted, served Head) error {
	var me *MisbehaviourError
	if errors.As(err, &me) {
		if me.Served == nil {
			me.Served = served.ptr()
		}
		if me.Trusted == nil {
			me.Trusted = trusted.ptr()
		}
	}
	return err
}

// checkHead holds a verified head served against the clock, the
// configured origin and the last verified head (trusted, nil on first
// contact). Timestamps and sizes move together: a larger tree signed
// before the verified one, or a smaller one signed after it, is
// misbehaviour; an older, smaller head is a stale copy (a cache) and is
// checked for consistency by the caller.
func (m *Monitor) checkHead(l Log, trusted *Head, served Head) error {
	mis := func(kind MisbehaviourKind, detail string) error {
		return &MisbehaviourError{LogURL: l.URL, LogID: l.ID, Kind: kind, Index: -1, Detail: detail, Trusted: trusted.ptr(), Served: served.ptr()}
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	if now := m.cfg.Now(); served.Timestamp.After(now.Add(m.cfg.MaxClockSkew)) {
		return mis(BadTimestamp, fmt.Sprintf("signed head of size %d is dated %s, %s ahead of the clock (allowed skew %s)",
			served.Size, ts(served.Timestamp), served.Timestamp.Sub(now).Round(time.Second), m.cfg.MaxClockSkew))
	}
	if l.Type == Static {
		got := checkpointOrigin(served.Signed)
		if trusted != nil {
			if was := checkpointOrigin(trusted.Signed); was != "" && got != was {
				return mis(OriginChanged, fmt.Sprintf("checkpoint signed for origin %q; the verified one was for %q", got, was))
			}
		}
		if l.Origin != "" && got != l.Origin {
			return &ConfigError{LogURL: l.URL, Served: served.ptr(),
				Detail: fmt.Sprintf("checkpoint is signed for origin %q, not the configured %q (--log-origin, the config's origin, or the log list)", got, l.Origin)}
		}
	}
	if trusted == nil {
		return nil
	}
	switch {
	case served.Size > trusted.Size && served.Timestamp.Before(trusted.Timestamp):
		return mis(BadTimestamp, fmt.Sprintf("signed head of size %d is dated %s, before the verified head of size %d (%s)",
			served.Size, ts(served.Timestamp), trusted.Size, ts(trusted.Timestamp)))
	case served.Size < trusted.Size && served.Timestamp.After(trusted.Timestamp):
		return mis(Rollback, fmt.Sprintf("signed head went back from size %d to size %d, signed later (%s) than the verified one (%s)",
			trusted.Size, served.Size, ts(served.Timestamp), ts(trusted.Timestamp)))
	}
	return nil
}

// notALog turns the failure to read a first head into a *ConfigError
// when the server answered with something that is not a signed head at
// all: the URL does not name a CT log (or not one of this type).
func notALog(l Log, err error) error {
	var fe *FetchError
	if errors.Is(err, errNotAHead) || (errors.As(err, &fe) && fe.Status == http.StatusOK) {
		// The cause, not the misbehaviour it was first taken for.
		var me *MisbehaviourError
		if errors.As(err, &me) {
			err = me.Err
		}
		return &ConfigError{LogURL: l.URL, Err: err,
			Detail: fmt.Sprintf("does not serve a CT log's signed tree head (%s API): check the URL and the log type; no head of it was ever verified", l.Type)}
	}
	return err
}

// errNotAHead marks a head response that does not parse as a signed
// tree head at all (nothing was signed).
var errNotAHead = errors.New("not a signed tree head")

// notServed reports whether err is the log refusing a request (404, or
// another 4xx but 408 and 429), rather than failing to answer it.
func notServed(err error) bool {
	var fe *FetchError
	if !errors.As(err, &fe) {
		return false
	}
	s := fe.Status
	return s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests
}

// checkpointOrigin is the origin line of a checkpoint note ("" for
// anything else, such as an RFC 6962 get-sth response).
func checkpointOrigin(signed string) string {
	origin, _, ok := strings.Cut(signed, "\n")
	if !ok || strings.HasPrefix(origin, "{") {
		return ""
	}
	return origin
}
