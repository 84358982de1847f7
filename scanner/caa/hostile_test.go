package caa

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/keyaudit/keyaudit/internal/dnsq"
	"github.com/keyaudit/keyaudit/internal/testlab"
)

// answer builds a reply to query with the given CAA records at its name.
func answer(t testing.TB, query []byte, edit func(q, r *dns.Msg)) []byte {
	q := new(dns.Msg)
	if err := q.Unpack(query); err != nil {
		return nil
	}
	r := new(dns.Msg)
	r.SetReply(q)
	if edit != nil {
		edit(q, r)
	}
	b, err := r.Pack()
	if err != nil {
		t.Errorf("pack: %v", err)
		return nil
	}
	return b
}

func caaRR(name string, flags uint8, tag, value string) *dns.CAA {
	return &dns.CAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: 60}, Flag: flags, Tag: tag, Value: value}
}

// TestLookupFailures: every way a resolver can fail is an error for the
// name — never "no CAA" — without and with DNSSEC bits.
func TestLookupFailures(t *testing.T) {
	garbage := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		if len(q) < 2 {
			return nil
		}
		// The query's ID, then bytes that are no DNS message.
		return append([]byte{q[0], q[1]}, []byte("\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00garbage")...)
	})
	notResponse := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		return answer(t, q, func(_, r *dns.Msg) { r.Response = false })
	})
	otherQuestion := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		return answer(t, q, func(_, r *dns.Msg) {
			r.Question[0].Name = "other.example."
			r.Answer = []dns.RR{caaRR("other.example.", 0, "issue", "evil.example")}
		})
	})
	wrongID := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		return answer(t, q, func(_, r *dns.Msg) { r.Id++ })
	})
	servfail := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		return answer(t, q, func(_, r *dns.Msg) { r.Rcode = dns.RcodeServerFailure })
	})
	refused := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		return answer(t, q, func(_, r *dns.Msg) { r.Rcode = dns.RcodeRefused })
	})
	notimp := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		return answer(t, q, func(_, r *dns.Msg) { r.Rcode = dns.RcodeNotImplemented })
	})
	// Too many records: truncated over UDP, 300 records over TCP.
	oversized := testlab.StartFakeDNS(t, "", func(q []byte, tcp bool) []byte {
		return answer(t, q, func(q, r *dns.Msg) {
			if !tcp {
				r.Truncated = true
				return
			}
			for i := 0; i < 300; i++ {
				r.Answer = append(r.Answer, caaRR(q.Question[0].Name, 0, "issue", "ca"+strings.Repeat("x", i%50)+".example"))
			}
		})
	})
	// miekg/dns will not pack a value this long; a hostile server will.
	hugeValue := testlab.StartFakeDNS(t, "", func(q []byte, tcp bool) []byte {
		if !tcp {
			return answer(t, q, func(_, r *dns.Msg) { r.Truncated = true })
		}
		return withRawCAA(answer(t, q, nil), 0, "issue", strings.Repeat("a", 5000))
	})
	alwaysTruncated := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		return answer(t, q, func(_, r *dns.Msg) { r.Truncated = true })
	})
	silent := testlab.SilentDNS(t)
	closed := closedUDPPort(t)

	for _, tc := range []struct {
		name   string
		server string
		kind   ErrorKind
	}{
		{"timeout", silent, KindTimeout},
		{"garbage", garbage, KindMalformed},
		{"not a response", notResponse, KindMalformed},
		{"another question", otherQuestion, KindMalformed},
		{"wrong id", wrongID, KindTimeout}, // ignored as a stray reply; nothing else comes
		{"servfail", servfail, KindServFail},
		{"refused", refused, KindRefused},
		{"notimp", notimp, KindRcode},
		{"oversized", oversized, KindOversized},
		{"huge value", hugeValue, KindOversized},
		{"truncated over tcp", alwaysTruncated, KindMalformed},
		{"port closed", closed, KindNetwork},
	} {
		for _, dnssec := range []bool{false, true} {
			mode := map[bool]string{false: "plain", true: "dnssec"}[dnssec]
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				c := newChecker(t, Config{Resolvers: []string{tc.server}, DNSSEC: dnssec, Timeout: 300 * time.Millisecond})
				start := time.Now()
				l := c.Lookup(context.Background(), "www.example.com")
				if time.Since(start) > 5*time.Second {
					t.Errorf("took %v", time.Since(start))
				}
				var le *LookupError
				if !errorsAs(l.Err, &le) || le.Kind != tc.kind {
					t.Fatalf("got err %v (records %v); want kind %s", l.Err, l.Records, tc.kind)
				}
				if le.QName != "www.example.com." {
					t.Errorf("qname %q", le.QName)
				}
				r := l.ResultFor("letsencrypt.org", Request{})
				if r.Allowed || r.Error == nil || r.Error.Kind != tc.kind || r.RelevantName != "" || len(r.Records) != 0 {
					t.Errorf("result %+v", r)
				}
				if p := l.Result(); p.Permits != nil || p.Error == nil {
					t.Errorf("per-name result %+v", p)
				}
			})
		}
	}
}

// withRawCAA appends one CAA record, owned by the question name, to a
// packed reply.
func withRawCAA(msg []byte, flags uint8, tag, value string) []byte {
	if len(msg) < 12 {
		return msg
	}
	msg[7]++ // ANCOUNT (low byte; the reply has no answers yet)
	rdata := append([]byte{flags, byte(len(tag))}, tag...)
	rdata = append(rdata, value...)
	rr := []byte{0xc0, 0x0c, 0x01, 0x01, 0x00, 0x01, 0, 0, 0, 60, byte(len(rdata) >> 8), byte(len(rdata))}
	return append(append(msg, rr...), rdata...)
}

func closedUDPPort(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// TestAuthenticatedData: the AD bit is recorded when the resolver sets
// it on every answer used, and only then.
func TestAuthenticatedData(t *testing.T) {
	var sawAD, sawDO atomic.Bool
	validating := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		return answer(t, q, func(q, r *dns.Msg) {
			if q.AuthenticatedData {
				sawAD.Store(true)
			}
			if o := q.IsEdns0(); o != nil && o.Do() {
				sawDO.Store(true)
			}
			r.AuthenticatedData = true
			if q.Question[0].Name == "example.com." {
				r.Answer = []dns.RR{caaRR("example.com.", 0, "issue", "letsencrypt.org")}
			} else {
				r.Rcode = dns.RcodeNameError
			}
		})
	})
	partly := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		return answer(t, q, func(q, r *dns.Msg) {
			if q.Question[0].Name == "example.com." {
				r.AuthenticatedData = true
				r.Answer = []dns.RR{caaRR("example.com.", 0, "issue", "letsencrypt.org")}
			} else {
				r.Rcode = dns.RcodeNameError // unauthenticated denial
			}
		})
	})
	for _, tc := range []struct {
		server string
		dnssec bool
		want   bool
	}{
		{validating, true, true},
		{validating, false, true}, // volunteered AD is still recorded
		{partly, true, false},
	} {
		c := newChecker(t, Config{Resolvers: []string{tc.server}, DNSSEC: tc.dnssec})
		l := c.Lookup(context.Background(), "www.example.com")
		if l.Err != nil || l.RelevantName != "example.com" || l.Authenticated != tc.want {
			t.Errorf("%+v: got %+v", tc, l)
		}
	}
	if !sawAD.Load() || !sawDO.Load() {
		t.Errorf("DNSSEC queries lacked AD (%v) or DO (%v)", sawAD.Load(), sawDO.Load())
	}
}

// TestRetry: a failed attempt is retried; a success on the second attempt
// is an answer, and Attempts bounds the tries.
func TestRetry(t *testing.T) {
	var n atomic.Int32
	flaky := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		return answer(t, q, func(q, r *dns.Msg) {
			if n.Add(1) == 1 {
				r.Rcode = dns.RcodeServerFailure
				return
			}
			r.Answer = []dns.RR{caaRR(q.Question[0].Name, 0, "issue", "letsencrypt.org")}
		})
	})
	c := newChecker(t, Config{Resolvers: []string{flaky}})
	if l := c.Lookup(context.Background(), "example.com"); l.Err != nil || len(l.Records) != 1 {
		t.Fatalf("got %+v", l)
	}
	n.Store(0)
	c = newChecker(t, Config{Resolvers: []string{flaky}, Attempts: 1})
	if l := c.Lookup(context.Background(), "example.com"); l.Err == nil {
		t.Fatalf("one attempt: got %+v", l)
	}
}

// TestCancel: a cancelled run yields cancelled results, promptly.
func TestCancel(t *testing.T) {
	silent := testlab.SilentDNS(t)
	c := newChecker(t, Config{Resolvers: []string{silent}, Timeout: time.Minute, Concurrency: 2})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	var kinds []ErrorKind
	err := c.LookupAll(ctx, []string{"a.example", "b.example", "c.example", "d.example"}, func(l *Lookup) error {
		var le *LookupError
		if !errorsAs(l.Err, &le) {
			t.Errorf("%s: %v", l.Name, l.Err)
			return nil
		}
		kinds = append(kinds, le.Kind)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("cancel took %v", time.Since(start))
	}
	if len(kinds) != 4 {
		t.Fatalf("kinds %v", kinds)
	}
	for _, k := range kinds {
		if k != KindCanceled {
			t.Errorf("kinds %v", kinds)
			break
		}
	}
}

// TestAliasLoopFromResolver: a resolver that returns an endless chain is
// stopped by maxAliasHops.
func TestAliasChainTooLong(t *testing.T) {
	srv := testlab.StartFakeDNS(t, "", func(q []byte, _ bool) []byte {
		return answer(t, q, func(q, r *dns.Msg) {
			name := q.Question[0].Name
			r.Answer = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: "x" + name}}
		})
	})
	c := newChecker(t, Config{Resolvers: []string{srv}})
	l := c.Lookup(context.Background(), "a.example")
	var le *LookupError
	if !errorsAs(l.Err, &le) || le.Kind != KindAlias {
		t.Fatalf("got %v", l.Err)
	}
}

func TestConfig(t *testing.T) {
	for _, bad := range [][]string{{"resolver.example:53"}, {"127.0.0.1:0"}, {"127.0.0.1:99999"}, {"127.0.0.1:x"}, {"udp:"}} {
		if _, err := New(Config{Resolvers: bad}); err == nil {
			t.Errorf("New accepted resolvers %v", bad)
		}
	}
	for _, good := range [][]string{{"127.0.0.1"}, {"127.0.0.1:5353"}, {"[::1]:53"}, {"::1"}, {"tcp:127.0.0.1:53"}, {"udp:127.0.0.1"}} {
		if _, err := New(Config{Resolvers: good}); err != nil {
			t.Errorf("New(%v): %v", good, err)
		}
	}
	if _, err := New(Config{Resolvers: []string{"127.0.0.1"}, Timeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
	if got, err := dnsq.ResolvConf("testdata/none"); err == nil {
		t.Errorf("missing resolv.conf: %v", got)
	}
}
