package caa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"
	"golang.org/x/sync/errgroup"

	"github.com/keyaudit/keyaudit/internal/dnsq"
)

// Config configures a Checker. The zero value asks the system's resolvers,
// 16 names at a time, 5 s per query, two attempts.
type Config struct {
	// Resolvers are the DNS resolvers to ask: "ip", "ip:port" or
	// "[ipv6]:port", optionally prefixed "udp:" or "tcp:". Empty: the
	// nameservers of /etc/resolv.conf — never a built-in public resolver.
	Resolvers []string
	// Timeout bounds each query attempt (default 5 s).
	Timeout time.Duration
	// Attempts is how many times a failed query (timeout, SERVFAIL,
	// REFUSED, malformed) is tried before the name's lookup fails
	// (default 2: the CA/B Forum BRs want a failed CAA lookup retried).
	Attempts int
	// Concurrency bounds how many names are looked up at once (default 16).
	Concurrency int
	// DNSSEC asks the resolver whether answers were authenticated: queries
	// carry the AD and DO bits. Without it, Authenticated is whatever AD
	// the resolver volunteers (normally none).
	DNSSEC bool
	// Resolver, when set, replaces the DNS transport (Resolvers and
	// DNSSEC are then unused).
	Resolver Resolver
	// Logger receives debug logs of each query; nil discards.
	Logger *slog.Logger
	// Now is the clock for Result times (default time.Now).
	Now func() time.Time
}

// Checker looks up relevant CAA RRsets. It is safe for concurrent use.
type Checker struct {
	cfg Config
	res Resolver
	log *slog.Logger
}

// New validates cfg and returns a Checker.
func New(cfg Config) (*Checker, error) {
	if cfg.Timeout < 0 || cfg.Attempts < 0 || cfg.Concurrency < 0 {
		return nil, errors.New("caa: negative timeout, attempts or concurrency")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 2
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 16
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := cfg.Resolver
	if res == nil {
		list := cfg.Resolvers
		if len(list) == 0 {
			sys, err := SystemResolvers()
			if err != nil {
				return nil, err
			}
			list = sys
		}
		servers, err := dnsq.ParseServers(list)
		if err != nil {
			return nil, fmt.Errorf("caa: %w", err)
		}
		res = &directResolver{servers: servers, timeout: cfg.Timeout, dnssec: cfg.DNSSEC}
	}
	return &Checker{cfg: cfg, res: res, log: log}, nil
}

// Lookup is the relevant RRset of one name, or why it could not be found.
type Lookup struct {
	// Name is the name as asked, normalised: lower case, A-labels, no
	// trailing dot, "*." kept for a wildcard.
	Name     string
	Wildcard bool
	// RelevantName is where the relevant RRset was found (the name or a
	// parent); empty when there is none, or on error.
	RelevantName string
	// AliasChain lists the CNAME targets followed from RelevantName to
	// the records, in order; empty when the records are at RelevantName.
	AliasChain []string
	Records    []Record
	// Authenticated is true when every answer the search used carried
	// the AD bit: the resolver validated them with DNSSEC.
	Authenticated bool
	// Queries counts the DNS answers the search used.
	Queries int
	// Err is the failed lookup (a *LookupError, or ErrInvalidName).
	Err  error
	Time time.Time

	set *rrset
}

// Found reports whether a relevant RRset exists.
func (l *Lookup) Found() bool { return l.Err == nil && l.set != nil }

// Permits returns the CAs the relevant RRset allows for the name itself
// (wildcard false) or for a wildcard name (wildcard true). Nil on error.
func (l *Lookup) Permits(wildcard bool) *Permits {
	if l.Err != nil {
		return nil
	}
	if l.set == nil {
		return &Permits{Any: true, CAs: []string{}}
	}
	p := l.set.permits(wildcard)
	return &p
}

// Decide answers whether the CA in req may issue for the looked-up name.
// A failed lookup is never a permission.
func (l *Lookup) Decide(req Request) Decision {
	switch {
	case l.Err != nil:
		return Decision{Reason: "CAA lookup failed, so issuance cannot be allowed: " + l.Err.Error()}
	case l.set == nil:
		return Decision{Allowed: true, Reason: fmt.Sprintf("no CAA records at %s or any parent: any CA may issue", l.base())}
	}
	where := l.RelevantName
	if n := len(l.AliasChain); n > 0 {
		where += " (alias of " + l.AliasChain[n-1] + ")"
	}
	d := l.set.decide(where, l.Wildcard, req)
	d.Notes = append(append([]string(nil), l.set.notes...), d.Notes...)
	return d
}

// Iodef returns the iodef URLs of the relevant RRset.
func (l *Lookup) Iodef() []string {
	if l.set == nil {
		return nil
	}
	return l.set.iodef
}

func (l *Lookup) base() string { return strings.TrimPrefix(l.Name, "*.") }

// NormalizeName checks a name to look up and returns it fully qualified
// (lower case, A-labels, trailing dot) without any "*." prefix, and
// whether it had one.
func NormalizeName(name string) (fqdn string, wildcard bool, err error) {
	n := strings.TrimSuffix(strings.TrimSpace(name), ".")
	if rest, ok := strings.CutPrefix(n, "*."); ok {
		n, wildcard = rest, true
	}
	bad := func(why string) (string, bool, error) {
		return "", false, fmt.Errorf("%w %q: %s", ErrInvalidName, name, why)
	}
	if n == "" {
		return bad("empty")
	}
	if strings.Contains(n, "*") {
		return bad("a wildcard must be the whole leftmost label")
	}
	if net.ParseIP(strings.Trim(n, "[]")) != nil {
		return bad("an IP address has no CAA (RFC 8659 is for domain names)")
	}
	ascii, err := idna.Lookup.ToASCII(n)
	if err != nil {
		// Underscore labels (_acme-challenge) are DNS names idna refuses;
		// accept plain LDH plus underscore as is.
		ascii = strings.ToLower(n)
	}
	if len(ascii) > 253 {
		return bad("longer than 253 octets")
	}
	for _, label := range strings.Split(ascii, ".") {
		if label == "" || len(label) > 63 {
			return bad("empty label or label longer than 63 octets")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return bad(fmt.Sprintf("character %q not allowed", c))
			}
		}
	}
	return ascii + ".", wildcard, nil
}

// Lookup finds the relevant RRset of name (RFC 8659 §3): the CAA RRset of
// the name, following aliases, or else of the closest parent that has
// one, up to but not including the root.
func (c *Checker) Lookup(ctx context.Context, name string) (l *Lookup) {
	l = &Lookup{Name: strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), ".")), Time: c.cfg.Now().UTC()}
	defer func() {
		// One hostile answer must cost one result, not the run.
		if r := recover(); r != nil {
			l.set, l.RelevantName, l.Records = nil, "", nil
			l.Err = &LookupError{QName: l.Name, Kind: KindMalformed, Err: fmt.Errorf("internal error: %v", r)}
		}
		if l.Err != nil {
			l.Authenticated = false
		}
	}()
	fqdn, wildcard, err := NormalizeName(name)
	if err != nil {
		l.Err = err
		return l
	}
	l.Wildcard = wildcard
	l.Name = strings.TrimSuffix(fqdn, ".")
	if wildcard {
		l.Name = "*." + l.Name
	}
	l.Authenticated = true
	for d := fqdn; d != "."; d = parent(d) {
		recs, chain, err := c.caaAt(ctx, d, l)
		if err != nil {
			l.Err = err
			return l
		}
		if len(recs) > 0 {
			l.RelevantName = strings.TrimSuffix(d, ".")
			l.AliasChain = chain
			l.Records = recs
			l.set = analyze(recs)
			return l
		}
	}
	return l
}

func parent(fqdn string) string {
	if i := strings.IndexByte(fqdn, '.'); i >= 0 && i < len(fqdn)-1 {
		return fqdn[i+1:]
	}
	return "."
}

// caaAt returns CAA(qname): the CAA RRset at qname, following CNAMEs as
// resolution does. An authoritative server stops at the edge of its zones
// and a resolver may too, so when the answer ends at an alias target
// without CAA records the target is asked directly. An empty result
// means "climb on from the parent of qname" — of the name that was
// asked, not of the alias target (RFC 8659 §3).
func (c *Checker) caaAt(ctx context.Context, qname string, l *Lookup) ([]Record, []string, error) {
	target := qname
	seen := map[string]bool{strings.ToLower(qname): true}
	var chain []string
	for {
		msg, err := c.query(ctx, target)
		if err != nil {
			return nil, nil, err
		}
		l.Queries++
		if !msg.AuthenticatedData {
			l.Authenticated = false
		}
		cur := target
		for {
			next, ok := cnameOf(msg.Answer, cur)
			if !ok {
				break
			}
			if seen[strings.ToLower(next)] {
				return nil, nil, &LookupError{QName: qname, Kind: KindAlias, Err: fmt.Errorf("CNAME loop at %s", next)}
			}
			seen[strings.ToLower(next)] = true
			chain = append(chain, strings.ToLower(strings.TrimSuffix(next, ".")))
			if len(chain) > maxAliasHops {
				return nil, nil, &LookupError{QName: qname, Kind: KindAlias, Err: fmt.Errorf("more than %d CNAMEs", maxAliasHops)}
			}
			cur = next
		}
		recs, err := caaRecords(msg.Answer, cur, qname)
		if err != nil {
			return nil, nil, err
		}
		if len(recs) > 0 {
			return recs, chain, nil
		}
		// No CAA at the end of the chain. NXDOMAIN there is final; so is
		// an answer with no new alias; otherwise ask the target itself.
		if cur == target || msg.Rcode == dns.RcodeNameError {
			return nil, nil, nil
		}
		target = cur
	}
}

func cnameOf(answer []dns.RR, owner string) (string, bool) {
	for _, rr := range answer {
		if cn, ok := rr.(*dns.CNAME); ok && cn.Hdr.Class == dns.ClassINET && strings.EqualFold(cn.Hdr.Name, owner) {
			return cn.Target, true
		}
	}
	return "", false
}

func caaRecords(answer []dns.RR, owner, qname string) ([]Record, error) {
	var out []Record
	for _, rr := range answer {
		caa, ok := rr.(*dns.CAA)
		if !ok || caa.Hdr.Class != dns.ClassINET || !strings.EqualFold(caa.Hdr.Name, owner) {
			continue
		}
		if len(out) == maxRecords {
			return nil, &LookupError{QName: qname, Kind: KindOversized, Err: fmt.Errorf("more than %d CAA records at %s", maxRecords, owner)}
		}
		if len(caa.Value) > maxValueBytes {
			return nil, &LookupError{QName: qname, Kind: KindOversized, Err: fmt.Errorf("CAA value of %d bytes at %s (limit %d)", len(caa.Value), owner, maxValueBytes)}
		}
		out = append(out, Record{Flags: caa.Flag, Tag: caa.Tag, Value: caa.Value})
	}
	return out, nil
}

// query asks for CAA at name, retrying failed attempts with jittered,
// capped backoff, and returns a usable answer or a *LookupError.
func (c *Checker) query(ctx context.Context, name string) (*dns.Msg, error) {
	var last error
	for attempt := range c.cfg.Attempts {
		if attempt > 0 {
			if err := sleep(ctx, backoff(attempt)); err != nil {
				break
			}
		}
		qctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		msg, srv, err := c.res.QueryCAA(qctx, name)
		cancel()
		if err != nil {
			kind := classify(err)
			if kind == KindCanceled || (kind == KindTimeout && ctx.Err() != nil) {
				kind = classify(ctx.Err())
			}
			err = &LookupError{QName: name, Kind: kind, Server: srv, Err: err}
		} else {
			err = checkResponse(name, msg, srv)
		}
		c.log.Debug("caa query", "name", name, "attempt", attempt+1, "server", srv, "err", err)
		if err == nil {
			return msg, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		var le *LookupError
		if !errors.As(last, &le) || (le.Kind != KindCanceled && le.Kind != KindTimeout) {
			return nil, &LookupError{QName: name, Kind: classify(ctx.Err()), Err: ctx.Err()}
		}
	}
	return nil, last
}

// backoff is the pause before attempt n (n ≥ 1): 50 ms doubling, capped at
// 1 s, with up to 50 % jitter.
func backoff(n int) time.Duration {
	d := 50 * time.Millisecond << min(n-1, 5)
	d = min(d, time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// LookupAll looks up names concurrently (at most Config.Concurrency at a
// time), each on its own, and calls emit with each Lookup in the order of
// names. emit is never called concurrently; an error from it stops the
// run and is returned.
func (c *Checker) LookupAll(ctx context.Context, names []string, emit func(*Lookup) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	var (
		mu   sync.Mutex
		done = make([]*Lookup, len(names))
		next int
	)
	for i, name := range names {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			l := c.Lookup(gctx, name)
			mu.Lock()
			defer mu.Unlock()
			done[i] = l
			for next < len(done) && done[next] != nil {
				cur := done[next]
				done[next] = nil
				next++
				if err := emit(cur); err != nil {
					next = len(done) + 1 // emit nothing more
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if next < len(names) {
		// Cancelled before every name started: report the rest as such.
		for ; next < len(names); next++ {
			l := done[next]
			if l == nil {
				l = &Lookup{Name: names[next], Time: c.cfg.Now().UTC(),
					Err: &LookupError{QName: names[next], Kind: classify(ctx.Err()), Err: ctx.Err()}}
			}
			if err := emit(l); err != nil {
				return err
			}
		}
	}
	return nil
}
