package stage

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/scanner/caa"
	"github.com/keyaudit/keyaudit/store"
)

// caaDNS serves, on loopback, CAA "issue ca.example" at
// allowed.stage.test, SERVFAIL for anything under broken.stage.test and
// no records elsewhere.
func caaDNS(t *testing.T) string {
	t.Helper()
	return testlab.StartFakeDNS(t, "127.0.61.53", func(q []byte, _ bool) []byte {
		var m dns.Msg
		if err := m.Unpack(q); err != nil || len(m.Question) != 1 {
			return nil
		}
		r := new(dns.Msg)
		r.SetReply(&m)
		name := m.Question[0].Name
		switch {
		case strings.HasSuffix(name, "broken.stage.test."):
			r.Rcode = dns.RcodeServerFailure
		case name == "allowed.stage.test." && m.Question[0].Qtype == dns.TypeCAA:
			r.Answer = append(r.Answer, &dns.CAA{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: 60},
				Tag: "issue", Value: "ca.example",
			})
		}
		b, err := r.Pack()
		if err != nil {
			return nil
		}
		return b
	})
}

func TestCAARecordsEveryDecision(t *testing.T) {
	resolver := caaDNS(t)
	testlab.MustLoopback(t, resolver)
	st := tempStore(t)
	ctx := context.Background()
	var emitted []caa.Result
	out, err := CAA(ctx, Env{Store: st}, CAAParams{
		Config: caa.Config{Resolvers: []string{resolver}, Timeout: 2 * time.Second, Attempts: 1},
		Names:  []string{"allowed.stage.test", "broken.stage.test"},
		CAs:    []string{"ca.example", "other.example"},
		Group:  "g",
	}, func(r caa.Result) error {
		emitted = append(emitted, r)
		return nil
	})
	if err != nil {
		t.Fatalf("CAA: %v", err)
	}
	if len(emitted) != 4 {
		t.Fatalf("emitted %d results, want one per (name, CA): 4", len(emitted))
	}
	if r := emitted[0]; r.Name != "allowed.stage.test" || r.CA != "ca.example" || !r.Allowed || r.Error != nil {
		t.Errorf("first result %+v, want ca.example allowed", r)
	}
	if r := emitted[1]; r.CA != "other.example" || r.Allowed {
		t.Errorf("second result %+v, want other.example not allowed", r)
	}
	if out.Stage != "caa" || out.Status != store.StatusPartial ||
		!strings.HasPrefix(out.Note, "2 names, 2 CAs: 1 allowed, 1 not allowed, lookups failed: 2 ") {
		t.Errorf("outcome %+v, want partial (one name's lookup failed)", out)
	}
	run, err := st.GetRun(ctx, out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Kind != "caa" || run.Group != "g" || run.Status != store.StatusPartial || run.Note != out.Note {
		t.Errorf("run %+v, want the outcome recorded", run)
	}
	if meta := runMeta(t, run); meta["names"] == nil || meta["dnssec"] != false {
		t.Errorf("run meta %v", meta)
	}
	var keys []string
	if err := st.Items(ctx, run.ID, store.KindCAA, func(it store.Item) error {
		keys = append(keys, it.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, " ") != "allowed.stage.test|ca.example allowed.stage.test|other.example broken.stage.test|ca.example broken.stage.test|other.example" {
		t.Errorf("stored %v", keys)
	}
}
