package scanner

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/keyaudit/keyaudit/internal/certinfo"
)

// Config configures a Scanner. The zero value scans port 443 with
// protocol inference, the system resolvers, a 5 s deadline per endpoint,
// 100 concurrent endpoints, no rate limit, 8 connections per IP, no scope
// restriction and no sharding.
type Config struct {
	// Ports are used for targets that name no port. Default [443].
	Ports []int
	// Protocol is "auto" (infer from the port: STARTTLS on 25/587, 143,
	// 110, 21, 389, 5432, 3306, 5222; direct TLS otherwise) or one of
	// Protocols, applied to targets without proto://.
	Protocol string
	// Resolvers are "ip:port" DNS servers; none means the system's.
	Resolvers []string
	// Resolver overrides Resolvers (tests, embedding).
	Resolver Resolver
	// Timeout is one deadline per endpoint, covering connect, STARTTLS
	// and handshake. Default 5 s.
	Timeout time.Duration
	// DNSTimeout bounds resolving one name. Default: Timeout.
	DNSTimeout time.Duration
	// Concurrency is the most endpoints in flight. Default 100. The
	// scanner starts below it and adapts (see window.go): handshakes
	// whose latency climbs because CPUs are starved shrink the number in
	// flight instead of timing out.
	Concurrency int
	// Rate limits new connections per second across the scan; 0 is
	// unlimited.
	Rate float64
	// PerIP limits concurrent connections to one IP. Default 8.
	PerIP int
	// Scope, when non-empty, is the only address space contacted;
	// endpoints outside it are recorded with ErrorKind scope.
	Scope Scope
	// Shard restricts the scan to one deterministic part of the targets.
	Shard Shard
	// Dial opens connections; default a net.Dialer.
	Dial Dialer
	// Logger receives debug details; nil discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Queued, when set, is told how many endpoints a scan has queued so
	// far, each time it queues one, and once more with final true when
	// the targets are all expanded: the total of a progress bar. It is
	// called from several goroutines.
	Queued func(queued int64, final bool)
}

// Scanner scans targets. Create it with New.
type Scanner struct {
	cfg     Config
	limiter *rate.Limiter
	perIP   *ipLimiter
	queued  atomic.Int64 // endpoints the running scan queued
}

// New validates cfg and fills defaults.
func New(cfg Config) (*Scanner, error) {
	if len(cfg.Ports) == 0 {
		cfg.Ports = []int{443}
	}
	for _, p := range cfg.Ports {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("scanner: invalid port %d", p)
		}
	}
	if cfg.Protocol == "" {
		cfg.Protocol = "auto"
	}
	if cfg.Protocol != "auto" && !knownProtocol(cfg.Protocol) {
		return nil, fmt.Errorf("scanner: unknown protocol %q (want auto or one of %v)", cfg.Protocol, Protocols)
	}
	if cfg.Timeout < 0 || cfg.DNSTimeout < 0 || cfg.Rate < 0 || cfg.Concurrency < 0 || cfg.PerIP < 0 {
		return nil, errors.New("scanner: timeouts, rate, concurrency and per-IP limit must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.DNSTimeout == 0 {
		cfg.DNSTimeout = cfg.Timeout
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 100
	}
	if cfg.PerIP == 0 {
		cfg.PerIP = 8
	}
	if cfg.Shard.Count > 0 && (cfg.Shard.Index < 1 || cfg.Shard.Index > cfg.Shard.Count) {
		return nil, fmt.Errorf("scanner: shard %d/%d out of range", cfg.Shard.Index, cfg.Shard.Count)
	}
	if cfg.Dial == nil {
		d := &net.Dialer{}
		cfg.Dial = d.DialContext
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Scanner{cfg: cfg, perIP: newIPLimiter(cfg.PerIP)}
	if cfg.Rate > 0 {
		burst := int(cfg.Rate / 20)
		if burst < 1 {
			burst = 1
		}
		s.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), burst)
	}
	return s, nil
}

// Stats summarises a scan.
type Stats struct {
	Endpoints int
	OK        int
	Errors    map[ErrorKind]int
	// Window is how the adaptive concurrency moved.
	Window WindowStats
}

// Scan expands specs lazily, scans every endpoint this shard owns, and
// calls emit once per endpoint, from a single goroutine. It returns when
// every endpoint is recorded, when emit fails, or when ctx ends (the
// observations emitted so far stand). Memory is bounded by Concurrency,
// not by the number of targets.
func (s *Scanner) Scan(ctx context.Context, specs iter.Seq[Spec], emit func(Observation) error) (Stats, error) {
	stats := Stats{Errors: map[ErrorKind]int{}}
	s.queued.Store(0)
	if s.cfg.Resolver == nil {
		// Resolve lazily: a scan of IPs only needs no resolver at all.
		s.cfg.Resolver = &lazyResolver{servers: s.cfg.Resolvers}
	}
	win := newWindow(s.cfg.Concurrency, s.cfg.Timeout)
	g, gctx := errgroup.WithContext(ctx)
	endpoints := make(chan Endpoint, s.cfg.Concurrency)
	results := make(chan Observation, s.cfg.Concurrency)

	// Stage 1: expand specs; names go to the resolvers.
	names := make(chan Spec, s.cfg.Concurrency)
	seen := newSeenSet(maxSeenEndpoints)
	var producers sync.WaitGroup
	producers.Add(1)
	g.Go(func() error {
		defer producers.Done()
		defer close(names)
		for sp := range specs {
			if sp.Name != "" {
				select {
				case names <- sp:
				case <-gctx.Done():
					return nil
				}
				continue
			}
			if !s.expand(gctx, sp, endpoints, seen) {
				return nil
			}
		}
		return nil
	})
	resolvers := min(s.cfg.Concurrency, 32)
	for range resolvers {
		producers.Add(1)
		g.Go(func() error {
			defer producers.Done()
			for sp := range names {
				if !s.resolveAndExpand(gctx, sp, endpoints, seen) {
					return nil
				}
			}
			return nil
		})
	}
	go func() {
		producers.Wait()
		if s.cfg.Queued != nil {
			s.cfg.Queued(s.queued.Load(), true) // before Scan can return
		}
		close(endpoints)
	}()

	// Stage 2: one dispatcher starts a goroutine per handshake, once the
	// handshake may start: --concurrency bounds the goroutines, and an
	// endpoint whose IP has a free connection slot also waits for its
	// place in the window here, in the dispatcher. So goroutines exist for
	// the handshakes in flight, not for endpoints waiting their turn: a
	// pool of --concurrency workers parked on the window had their stacks
	// shrunk by every collection and grown again by every handshake, and
	// every collection scanned them all. An endpoint whose IP is busy (see
	// --per-ip) waits in its own goroutine, for the IP first and then the
	// window, so it holds no place in the window while it cannot connect.
	var workers sync.WaitGroup
	workers.Add(1) // the dispatcher
	ceiling := make(chan struct{}, s.cfg.Concurrency)
	finish := func(obs Observation) {
		select {
		case results <- obs:
		case <-gctx.Done():
		}
	}
	g.Go(func() error {
		defer workers.Done()
		for ep := range endpoints {
			obs, final := s.newObservation(ep)
			if !final && s.limiter != nil {
				if err := s.limiter.Wait(gctx); err != nil {
					obs, final = cancelled(obs, err), true
				}
			}
			if final {
				finish(obs)
				if gctx.Err() != nil {
					return nil
				}
				continue
			}
			select {
			case ceiling <- struct{}{}:
			case <-gctx.Done():
				return nil
			}
			release, ready := s.perIP.tryAcquire(ep.IP)
			var sl *slot
			if ready {
				var err error
				if sl, err = win.acquire(gctx); err != nil {
					release()
					<-ceiling
					finish(cancelled(obs, err))
					return nil
				}
			}
			workers.Add(1)
			go func() {
				defer workers.Done()
				defer func() { <-ceiling }()
				if !ready {
					var err error
					if release, sl, err = s.waitTurn(gctx, ep.IP, win); err != nil {
						finish(cancelled(obs, err))
						return
					}
				}
				defer release()
				s.handshake(gctx, ep, &obs, sl)
				finish(obs)
			}()
		}
		return nil
	})
	go func() { workers.Wait(); close(results) }()

	// Stage 3: one emitter, so emit needs no locking.
	var emitErr error
	for obs := range results {
		if emitErr != nil {
			continue // drain so the workers can finish
		}
		stats.Endpoints++
		if obs.Error == nil {
			stats.OK++
		} else {
			stats.Errors[obs.Error.Kind]++
		}
		if err := emit(obs); err != nil {
			emitErr = fmt.Errorf("scanner: record %s: %w", obs.Target, err)
			g.Go(func() error { return emitErr }) // cancels gctx
		}
	}
	_ = g.Wait()
	if win != nil {
		stats.Window = win.stats()
	}
	if emitErr != nil {
		return stats, emitErr
	}
	return stats, ctx.Err()
}

func (s *Scanner) ports(sp Spec) []int {
	if sp.Port != 0 {
		return []int{sp.Port}
	}
	return s.cfg.Ports
}

func (s *Scanner) protocol(sp Spec, port int) string {
	if sp.Protocol != "" {
		return sp.Protocol
	}
	if s.cfg.Protocol != "auto" {
		return s.cfg.Protocol
	}
	return ProtocolForPort(port)
}

// send queues ep when this shard owns it; false means ctx ended.
func (s *Scanner) send(ctx context.Context, ep Endpoint, out chan<- Endpoint) bool {
	if !s.cfg.Shard.Owns(ep) {
		return true
	}
	select {
	case out <- ep:
		if n := s.queued.Add(1); s.cfg.Queued != nil {
			s.cfg.Queued(n, false)
		}
		return true
	case <-ctx.Done():
		return false
	}
}

// sendOnce is send for the endpoints of explicitly listed targets: an
// endpoint already queued in this scan (same protocol, IP, port and SNI)
// is not queued again.
func (s *Scanner) sendOnce(ctx context.Context, ep Endpoint, out chan<- Endpoint, seen *seenSet) bool {
	if !s.cfg.Shard.Owns(ep) {
		return true
	}
	if ep.err == nil && !seen.add(endpointKey{Protocol: ep.Protocol, IP: ep.IP, Port: ep.Port, SNI: ep.SNI}) {
		return true
	}
	return s.send(ctx, ep, out)
}

// expand emits the endpoints of an IP or CIDR spec without building a
// list: addresses are walked one by one. Repeats of a single IP are
// skipped through seen; CIDR walks are not recorded there, so memory does
// not grow with the size of a range.
func (s *Scanner) expand(ctx context.Context, sp Spec, out chan<- Endpoint, seen *seenSet) bool {
	if !sp.IsCIDR() {
		for _, port := range s.ports(sp) {
			ep := Endpoint{IP: sp.Addr, Port: port, Protocol: s.protocol(sp, port), SNI: sp.SNI}
			if !s.sendOnce(ctx, ep, out, seen) {
				return false
			}
		}
		return true
	}
	if !s.cfg.Scope.Overlaps(sp.Prefix) {
		// Refuse the whole range at once: nothing in it may be touched.
		for _, port := range s.ports(sp) {
			ep := Endpoint{Port: port, Protocol: s.protocol(sp, port), label: fmt.Sprintf("%s:%d", sp.Prefix, port),
				err: &ScanError{Kind: KindScope, Message: fmt.Sprintf("%s is outside the configured scope", sp.Prefix)}}
			if !s.send(ctx, ep, out) {
				return false
			}
		}
		return true
	}
	for a := sp.Prefix.Addr(); a.IsValid() && sp.Prefix.Contains(a); a = a.Next() {
		for _, port := range s.ports(sp) {
			ep := Endpoint{IP: a, Port: port, Protocol: s.protocol(sp, port), SNI: sp.SNI}
			if !s.send(ctx, ep, out) {
				return false
			}
		}
	}
	return true
}

func (s *Scanner) resolveAndExpand(ctx context.Context, sp Spec, out chan<- Endpoint, seen *seenSet) bool {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.DNSTimeout)
	addrs, err := s.cfg.Resolver.Resolve(rctx, sp.Name)
	cancel()
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		for _, port := range s.ports(sp) {
			ep := Endpoint{Name: sp.Name, Port: port, Protocol: s.protocol(sp, port), SNI: sp.Name,
				err: &ScanError{Kind: KindDNS, Message: trimMsg(err.Error())}}
			if !s.send(ctx, ep, out) {
				return false
			}
		}
		return true
	}
	for _, a := range addrs {
		for _, port := range s.ports(sp) {
			ep := Endpoint{Name: sp.Name, IP: a, Port: port, Protocol: s.protocol(sp, port), SNI: sp.Name}
			if !s.sendOnce(ctx, ep, out, seen) {
				return false
			}
		}
	}
	return true
}

// newObservation starts the observation of ep; final says it is already
// complete (an endpoint that failed before it could be connected to, or
// one outside the scope), so nothing is to be contacted.
func (s *Scanner) newObservation(ep Endpoint) (obs Observation, final bool) {
	obs = Observation{Target: ep.Target(), Host: ep.Name, Port: ep.Port, SNI: ep.SNI, Protocol: ep.Protocol, Chain: []certinfo.Cert{}}
	if ep.IP.IsValid() {
		obs.IP = ep.IP.String()
		if obs.Host == "" {
			obs.Host = obs.IP
		}
	}
	obs.Time = s.cfg.Now().UTC()
	if ep.err != nil {
		obs.Error = ep.err
		return obs, true
	}
	if !s.cfg.Scope.Allows(ep.IP) {
		obs.Error = &ScanError{Kind: KindScope, Message: fmt.Sprintf("%s is outside the configured scope", ep.IP)}
		return obs, true
	}
	return obs, false
}

// cancelled is obs for a scan that ended before the endpoint was
// connected to.
func cancelled(obs Observation, err error) Observation {
	obs.Error = &ScanError{Kind: KindCancelled, Message: "cancelled before connecting: " + err.Error()}
	return obs
}

// waitTurn waits for a connection slot at ip, then for a place in the
// window.
func (s *Scanner) waitTurn(ctx context.Context, ip netip.Addr, win *window) (release func(), sl *slot, err error) {
	if release, err = s.perIP.acquire(ctx, ip); err != nil {
		return nil, nil, err
	}
	if sl, err = win.acquire(ctx); err != nil {
		release()
		return nil, nil, err
	}
	return release, sl, nil
}

// handshake connects to ep and fills obs, holding the place sl in the
// window. A panic in the handshake code becomes this endpoint's error,
// not a crashed scan.
func (s *Scanner) handshake(ctx context.Context, ep Endpoint, obs *Observation, sl *slot) {
	finished := false
	defer func() {
		if r := recover(); r != nil {
			if !finished {
				sl.done(false, 0)
			}
			s.cfg.Logger.Error("panic while scanning", "target", obs.Target, "panic", r, "stack", string(debug.Stack()))
			obs.Chain = []certinfo.Cert{}
			obs.Error = &ScanError{Kind: KindHandshake, Message: fmt.Sprintf("internal error while parsing the server's answer: %v", r)}
		}
	}()
	start := time.Now()
	obs.Time = s.cfg.Now().UTC()
	ectx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	rtt := probe(ectx, s.cfg.Dial, ep, obs)
	sl.done(obs.Error == nil, rtt)
	finished = true
	obs.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	s.cfg.Logger.Debug("endpoint", "target", obs.Target, "ip", obs.IP, "ms", obs.DurationMS, "error", obs.Error)
}

// ipLimiter bounds concurrent connections per IP.
type ipLimiter struct {
	max   int
	mu    sync.Mutex
	slots map[netip.Addr]*ipSlot
}

type ipSlot struct {
	sem  chan struct{}
	refs int
}

func newIPLimiter(max int) *ipLimiter {
	return &ipLimiter{max: max, slots: map[netip.Addr]*ipSlot{}}
}

func (l *ipLimiter) acquire(ctx context.Context, ip netip.Addr) (func(), error) {
	sl, release, unref := l.ref(ip)
	select {
	case sl.sem <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		unref()
		return nil, ctx.Err()
	}
}

// tryAcquire takes a connection slot at ip if one is free now.
func (l *ipLimiter) tryAcquire(ip netip.Addr) (func(), bool) {
	sl, release, unref := l.ref(ip)
	select {
	case sl.sem <- struct{}{}:
		return release, true
	default:
		unref()
		return nil, false
	}
}

// ref counts one more user of ip's slots; release gives back a slot
// taken and the reference, unref the reference alone.
func (l *ipLimiter) ref(ip netip.Addr) (sl *ipSlot, release, unref func()) {
	l.mu.Lock()
	sl = l.slots[ip]
	if sl == nil {
		sl = &ipSlot{sem: make(chan struct{}, l.max)}
		l.slots[ip] = sl
	}
	sl.refs++
	l.mu.Unlock()
	unref = func() {
		l.mu.Lock()
		sl.refs--
		if sl.refs == 0 {
			delete(l.slots, ip)
		}
		l.mu.Unlock()
	}
	return sl, func() { <-sl.sem; unref() }, unref
}

// lazyResolver builds the DNS resolver on first use.
type lazyResolver struct {
	servers []string
	once    sync.Once
	r       Resolver
	err     error
}

func (l *lazyResolver) Resolve(ctx context.Context, name string) ([]netip.Addr, error) {
	l.once.Do(func() { l.r, l.err = NewResolver(l.servers) })
	if l.err != nil {
		return nil, &DNSError{Name: name, Reason: "no resolver", Err: l.err}
	}
	return l.r.Resolve(ctx, name)
}
