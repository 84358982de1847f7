package caa

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/testlab"
)

const zoneDir = "../../testdata/caa"

// startZones serves every testdata/caa zone from one real Knot and
// returns its address.
func startZones(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(zoneDir, "*.zone"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no zones in %s: %v", zoneDir, err)
	}
	zones := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		zones[strings.TrimSuffix(filepath.Base(f), ".zone")+"."] = string(b)
	}
	return testlab.StartKnot(t, "127.0.0.1:0", zones)
}

type expectation struct {
	name, ca, relevant, errKind string
	allowed                     bool
	line                        int
}

func readExpectations(t *testing.T) []expectation {
	t.Helper()
	f, err := os.Open(filepath.Join(zoneDir, "expect.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []expectation
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) != 5 {
			t.Fatalf("expect.txt:%d: want 5 fields", n)
		}
		e := expectation{name: fields[0], ca: fields[1], allowed: fields[2] == "true", relevant: fields[3], errKind: fields[4], line: n}
		if e.relevant == "-" {
			e.relevant = ""
		}
		if e.errKind == "-" {
			e.errKind = ""
		}
		out = append(out, e)
	}
	return out
}

func newChecker(t *testing.T, cfg Config) *Checker {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestExpectations decides every case of testdata/caa/expect.txt against
// a real Knot, without and with the DNSSEC bits.
func TestExpectations(t *testing.T) {
	addr := startZones(t)
	exps := readExpectations(t)
	var names []string
	for _, e := range exps {
		if !slices.Contains(names, e.name) {
			names = append(names, e.name)
		}
	}
	for _, mode := range []struct {
		name   string
		dnssec bool
	}{{"plain", false}, {"dnssec", true}} {
		t.Run(mode.name, func(t *testing.T) {
			c := newChecker(t, Config{Resolvers: []string{addr}, DNSSEC: mode.dnssec, Timeout: 2 * time.Second, Concurrency: 8})
			got := map[string]*Lookup{}
			err := c.LookupAll(context.Background(), names, func(l *Lookup) error {
				got[l.Name] = l
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range exps {
				l := got[e.name]
				if l == nil {
					t.Errorf("expect.txt:%d: no lookup for %s", e.line, e.name)
					continue
				}
				r := l.ResultFor(e.ca, Request{})
				kind := ""
				if r.Error != nil {
					kind = string(r.Error.Kind)
				}
				if r.Allowed != e.allowed || r.RelevantName != e.relevant || kind != e.errKind {
					t.Errorf("expect.txt:%d: %s for %s: allowed %v, relevant %q, error %q; want %v, %q, %q\n  reason: %s\n  records: %v\n  error: %+v",
						e.line, e.name, e.ca, r.Allowed, r.RelevantName, kind, e.allowed, e.relevant, e.errKind, r.Reason, r.Records, r.Error)
				}
				if l.Authenticated {
					t.Errorf("%s: authenticated, but Knot sets no AD bit", e.name)
				}
			}
		})
	}
}

func TestLookupDetails(t *testing.T) {
	addr := startZones(t)
	c := newChecker(t, Config{Resolvers: []string{addr}, Timeout: 2 * time.Second})
	ctx := context.Background()

	t.Run("alias to a name with CAA", func(t *testing.T) {
		l := c.Lookup(ctx, "alias.caa.test")
		if l.RelevantName != "alias.caa.test" || !slices.Equal(l.AliasChain, []string{"own.caa.test"}) ||
			len(l.Records) != 1 || l.Records[0].Value != "ca.example" {
			t.Errorf("got %+v", l)
		}
	})
	t.Run("alias chain across zones", func(t *testing.T) {
		l := c.Lookup(ctx, "chain.caa.test")
		if !slices.Equal(l.AliasChain, []string{"hop1.elsewhere.test", "hop2.elsewhere.test"}) ||
			len(l.Records) != 1 || l.Records[0].Value != "chain.example" {
			t.Errorf("got %+v", l)
		}
	})
	t.Run("alias without CAA climbs from the original name", func(t *testing.T) {
		l := c.Lookup(ctx, "alias-empty.sub.caa.test")
		if l.RelevantName != "sub.caa.test" || len(l.AliasChain) != 0 || l.Records[0].Value != "sub-parent.example" {
			t.Errorf("got relevant %q chain %v records %v (RFC 6844-style climbing from the target would give elsewhere.test)",
				l.RelevantName, l.AliasChain, l.Records)
		}
	})
	t.Run("iodef kept", func(t *testing.T) {
		r := c.Lookup(ctx, "nothing.caa.test").Result()
		if !slices.Equal(r.Iodef, []string{"mailto:security@caa.test"}) || r.RelevantName != "caa.test" {
			t.Errorf("got %+v", r)
		}
		r = c.Lookup(ctx, "iodefonly.caa.test").ResultFor("letsencrypt.org", Request{})
		if !r.Allowed || !slices.Equal(r.Iodef, []string{"https://iodef.caa.test/report"}) {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("flag 1 is critical, with a note", func(t *testing.T) {
		r := c.Lookup(ctx, "crit1.caa.test").ResultFor("letsencrypt.org", Request{})
		if r.Allowed || !strings.Contains(strings.Join(r.Notes, "\n"), "read as critical") {
			t.Errorf("got %+v", r)
		}
		if r.Records[1].Flags != 1 || r.Records[1].Tag != "tbs" {
			t.Errorf("flags and tag not taken from the raw answer: %+v", r.Records)
		}
	})
	t.Run("tag case kept as published", func(t *testing.T) {
		l := c.Lookup(ctx, "upper.caa.test")
		var tags []string
		for _, r := range l.Records {
			tags = append(tags, r.Tag)
		}
		slices.Sort(tags)
		if !slices.Equal(tags, []string{"ISSUE", "IssueWild"}) {
			t.Errorf("tags %v", tags)
		}
	})
	t.Run("RFC 8657 params", func(t *testing.T) {
		l := c.Lookup(ctx, "acct.caa.test")
		r := l.ResultFor("letsencrypt.org", Request{})
		if !r.Allowed || len(r.Params) != 1 ||
			!slices.Equal(r.Params[0].AccountURI, []string{"https://acme-v02.api.letsencrypt.org/acme/acct/12345"}) ||
			!slices.Equal(r.Params[0].ValidationMethods, []string{"dns-01"}) {
			t.Errorf("got %+v", r)
		}
		if !strings.Contains(strings.Join(r.Notes, "\n"), "not checked") {
			t.Errorf("no note that the account was not checked: %v", r.Notes)
		}
		for _, tc := range []struct {
			req     Request
			allowed bool
		}{
			{Request{AccountURI: "https://acme-v02.api.letsencrypt.org/acme/acct/12345", ValidationMethod: "dns-01"}, true},
			{Request{AccountURI: "https://acme-v02.api.letsencrypt.org/acme/acct/99999"}, false},
			{Request{ValidationMethod: "http-01"}, false},
		} {
			if got := l.ResultFor("letsencrypt.org", tc.req); got.Allowed != tc.allowed {
				t.Errorf("%+v: allowed %v; %s", tc.req, got.Allowed, got.Reason)
			}
		}
		if got := l.ResultFor("ca.example", Request{ValidationMethod: "http-01"}); !got.Allowed ||
			!slices.Equal(got.Params[0].ValidationMethods, []string{"http-01", "dns-01"}) {
			t.Errorf("ca.example http-01: %+v", got)
		}
	})
	t.Run("per-name permits", func(t *testing.T) {
		r := c.Lookup(ctx, "wild.caa.test").Result()
		if r.Permits == nil || r.PermitsWildcard == nil ||
			!slices.Equal(r.Permits.CAs, []string{"letsencrypt.org"}) || !slices.Equal(r.PermitsWildcard.CAs, []string{"ca.example"}) {
			t.Errorf("got %+v %+v", r.Permits, r.PermitsWildcard)
		}
		r = c.Lookup(ctx, "nowhere.test").Result()
		if !r.Permits.Any || !r.PermitsWildcard.Any || r.RelevantName != "" {
			t.Errorf("no CAA: got %+v", r)
		}
		r = c.Lookup(ctx, "www.broken.test").Result()
		if r.Permits != nil || r.Error == nil || r.Error.Kind != KindServFail {
			t.Errorf("servfail: got %+v", r)
		}
	})
	t.Run("failure at a parent is an error", func(t *testing.T) {
		l := c.Lookup(ctx, "www.fine.broken.test")
		var le *LookupError
		if !errorsAs(l.Err, &le) || le.Kind != KindServFail || le.QName != "broken.test." {
			t.Errorf("got %v", l.Err)
		}
		if d := l.Decide(Request{Identifiers: []string{"letsencrypt.org"}}); d.Allowed {
			t.Error("a failed lookup allowed issuance")
		}
	})
	t.Run("queries stay few", func(t *testing.T) {
		// own: one answer. nowhere.test: nowhere.test, test. A climb
		// must not re-ask NOERROR/NXDOMAIN names.
		if n := c.Lookup(ctx, "own.caa.test").Queries; n != 1 {
			t.Errorf("own.caa.test: %d queries", n)
		}
		if n := c.Lookup(ctx, "nowhere.test").Queries; n != 2 {
			t.Errorf("nowhere.test: %d queries", n)
		}
	})
}

// TestManyNames decides many names in one run, concurrently, each on its
// own answer: Let's Encrypt's 2020 CAA bug checked one name N times.
func TestManyNames(t *testing.T) {
	addr := startZones(t)
	c := newChecker(t, Config{Resolvers: []string{addr}, Concurrency: 7, Timeout: 2 * time.Second})
	var names []string
	for round := 0; round < 3; round++ {
		for i := 20; i >= 1; i-- {
			prefix := ""
			if round == 1 {
				prefix = "www."
			}
			if round == 2 {
				prefix = "*."
			}
			names = append(names, fmt.Sprintf("%sn%02d.caa.test", prefix, i))
		}
	}
	var order []string
	err := c.LookupAll(context.Background(), names, func(l *Lookup) error {
		order = append(order, l.Name)
		i := strings.Index(l.Name, "n")
		num := l.Name[i+1 : i+3]
		want := "ca" + num + ".example"
		if l.Err != nil || len(l.Records) != 1 || l.Records[0].Value != want || l.RelevantName != "n"+num+".caa.test" {
			t.Errorf("%s: relevant %q records %v err %v; want %s", l.Name, l.RelevantName, l.Records, l.Err, want)
		}
		for _, other := range []string{"ca01.example", "ca20.example"} {
			if other != want && l.ResultFor(other, Request{}).Allowed {
				t.Errorf("%s allowed for %s", l.Name, other)
			}
		}
		if !l.ResultFor(want, Request{}).Allowed {
			t.Errorf("%s not allowed for %s", l.Name, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, names) {
		t.Errorf("emitted out of order:\n%v\nwant\n%v", order, names)
	}
}

func TestEmitErrorStops(t *testing.T) {
	addr := startZones(t)
	c := newChecker(t, Config{Resolvers: []string{addr}, Concurrency: 2})
	var n atomic.Int32
	stop := fmt.Errorf("stop")
	err := c.LookupAll(context.Background(), []string{"n01.caa.test", "n02.caa.test", "n03.caa.test", "n04.caa.test"}, func(*Lookup) error {
		n.Add(1)
		return stop
	})
	if err != stop || n.Load() != 1 {
		t.Errorf("err %v after %d emits", err, n.Load())
	}
}
