package ctlog_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/sunlight"
	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/mod/sumdb/note"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/testlab"
)

// headProxy stands in front of a FakeLog on loopback and can serve
// another signed head than the log's (a replayed or re-signed one), and
// refuse what lies beyond a tree size, as a log restored from an older
// backup does: tiles (404), get-entries, consistency and inclusion proofs
// (400).
type headProxy struct {
	URL string
	f   *testlab.FakeLog

	mu         sync.Mutex
	checkpoint []byte // served at checkpoint when set
	sth        []byte // served at ct/v1/get-sth when set
	maxSize    int64  // >0: nothing beyond this tree size is served
	holdFrom   int64  // >0: reads of entries from this index on hang until the client gives up
}

func newHeadProxy(t *testing.T, f *testlab.FakeLog) *headProxy {
	t.Helper()
	target, err := url.Parse(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := &headProxy{f: f}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		cp, sth, limit, hold := p.checkpoint, p.sth, p.maxSize, p.holdFrom
		p.mu.Unlock()
		path := strings.TrimPrefix(r.URL.Path, "/")
		if hold > 0 && readsFrom(path, r.URL.Query()) >= hold {
			<-r.Context().Done()
			return
		}
		switch {
		case path == "checkpoint" && cp != nil:
			w.Write(cp)
			return
		case path == "ct/v1/get-sth" && sth != nil:
			w.Header().Set("Content-Type", "application/json")
			w.Write(sth)
			return
		case limit > 0 && beyond(path, r.URL.Query(), limit):
			if strings.HasPrefix(path, "tile/") {
				http.NotFound(w, r)
			} else {
				http.Error(w, "beyond the tree", http.StatusBadRequest)
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testlab.MustLoopback(t, l.Addr().String())
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	p.URL = srv.URL + "/"
	return p
}

// beyond reports whether a request reads past tree size size.
func beyond(path string, q url.Values, size int64) bool {
	num := func(k string) int64 { n, _ := strconv.ParseInt(q.Get(k), 10, 64); return n }
	switch {
	case strings.HasPrefix(path, "tile/"):
		t, err := sunlight.ParseTilePath(path)
		if err != nil {
			return false
		}
		level := max(t.L, 0)
		return (t.N*sunlight.TileWidth+int64(t.W))<<(8*level) > size
	case path == "ct/v1/get-sth-consistency":
		return num("second") > size
	case path == "ct/v1/get-entries":
		return num("end") >= size
	case path == "ct/v1/get-proof-by-hash":
		return num("tree_size") > size
	}
	return false
}

// readsFrom is the first entry a data request reads (-1 for others).
func readsFrom(path string, q url.Values) int64 {
	switch {
	case strings.HasPrefix(path, "tile/data/"):
		if t, err := sunlight.ParseTilePath(path); err == nil {
			return t.N * sunlight.TileWidth
		}
	case path == "ct/v1/get-entries":
		if n, err := strconv.ParseInt(q.Get("start"), 10, 64); err == nil {
			return n
		}
	}
	return -1
}

func (p *headProxy) serveHead(checkpoint, sth []byte, maxSize int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checkpoint, p.sth, p.maxSize = checkpoint, sth, maxSize
}

// servedHeads fetches the log's current checkpoint and get-sth answer.
func servedHeads(t *testing.T, f *testlab.FakeLog) (checkpoint, sth []byte) {
	t.Helper()
	get := func(p string) []byte {
		resp, err := http.Get(f.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d, %v", p, resp.StatusCode, err)
		}
		return b
	}
	return get("checkpoint"), get("ct/v1/get-sth")
}

// resign signs, with f's key, a head of f's current size and root dated
// ts: the checkpoint (with origin) and the get-sth answer.
func resign(t *testing.T, f *testlab.FakeLog, origin string, ts time.Time) (checkpoint, sth []byte) {
	t.Helper()
	_, cur := servedHeads(t, f)
	var h ct.GetSTHResponse
	if err := json.Unmarshal(cur, &h); err != nil {
		t.Fatal(err)
	}
	h.Timestamp = uint64(ts.UnixMilli())
	var root ct.SHA256Hash
	copy(root[:], h.SHA256RootHash)
	in, err := ct.SerializeSTHSignatureInput(ct.SignedTreeHead{Version: ct.V1, TreeSize: h.TreeSize, Timestamp: h.Timestamp, SHA256RootHash: root})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := cttls.CreateSignature(*f.Key, cttls.SHA256, in)
	if err != nil {
		t.Fatal(err)
	}
	if h.TreeHeadSignature, err = cttls.Marshal(sig); err != nil {
		t.Fatal(err)
	}
	if sth, err = json.Marshal(h); err != nil {
		t.Fatal(err)
	}
	keyID := sha256.Sum256(f.PublicKeyDER)
	kh := sha256.New()
	kh.Write([]byte(origin + "\n"))
	kh.Write([]byte{0x05})
	kh.Write(keyID[:])
	signer := &noteSigner{name: origin, hash: binary.BigEndian.Uint32(kh.Sum(nil)), sig: func() []byte {
		var b cryptobyte.Builder
		b.AddUint64(h.Timestamp)
		b.AddUint8(uint8(sig.Algorithm.Hash))
		b.AddUint8(uint8(sig.Algorithm.Signature))
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sig.Signature) })
		return b.BytesOrPanic()
	}}
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, h.TreeSize, base64.StdEncoding.EncodeToString(h.SHA256RootHash))
	if checkpoint, err = note.Sign(&note.Note{Text: text}, signer); err != nil {
		t.Fatal(err)
	}
	return checkpoint, sth
}

// proxiedLog is l read through p.
func proxiedLog(t *testing.T, p *headProxy, f *testlab.FakeLog, typ ctlog.Type) ctlog.Log {
	t.Helper()
	l, err := ctlog.NewLog(p.URL, f.PublicKeyBase64(), typ)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// misbehaviourOf returns err's *MisbehaviourError, failing the test when
// it has none, is of another kind or lacks either head.
func misbehaviourOf(t *testing.T, err error, kind ctlog.MisbehaviourKind) *ctlog.MisbehaviourError {
	t.Helper()
	var mis *ctlog.MisbehaviourError
	if !errors.As(err, &mis) {
		t.Fatalf("got %v, want a %s misbehaviour", err, kind)
	}
	if mis.Kind != kind {
		t.Fatalf("kind %s, want %s: %v", mis.Kind, kind, err)
	}
	if mis.Trusted == nil || mis.Served == nil {
		t.Fatalf("evidence missing: trusted %v, served %v", mis.Trusted, mis.Served)
	}
	return mis
}

// TestRollbackIsMisbehaviour (hardening a): a log whose signed head moved
// backwards and no longer serves the verified tree is a suspected
// rollback, with the verified and the new head as evidence, and its
// position does not move — whether it signed the shorter history anew
// (a fork to a shorter history) or went back to an older head and
// refuses what proves the verified tree (restored from a backup).
func TestRollbackIsMisbehaviour(t *testing.T) {
	ca := testlab.NewCTCA(t)
	for _, typ := range bothTypes {
		t.Run(string(typ)+"/fork to a shorter history", func(t *testing.T) {
			f, l, sink, m := syncedFake(t, ca, typ)
			if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
				t.Fatal(err)
			}
			before := string(sink.state[l.ID])
			verified := f.HeadSize()
			f.LieFork(500)
			f.Publish(t)
			_, err := m.Sync(context.Background(), l, sink, ctlog.FromStart)
			mis := misbehaviourOf(t, err, ctlog.Rollback)
			if mis.Trusted.Size != uint64(verified) || mis.Served.Size != 500 {
				t.Fatalf("heads %v → %v, want %d → 500", mis.Trusted, mis.Served, verified)
			}
			if string(sink.state[l.ID]) != before {
				t.Fatal("position moved on a rolled-back log")
			}
		})
		t.Run(string(typ)+"/back to an older head", func(t *testing.T) {
			f := testlab.NewFakeLog(t)
			populate(t, f, ca, 600)
			oldCP, oldSTH := servedHeads(t, f)
			old := f.HeadSize()
			for i := range 300 {
				f.Add(t, ca.Cert(t, fmt.Sprintf("n%d.example.com", i)), false, ca.Root.Raw)
			}
			f.Publish(t)
			p := newHeadProxy(t, f)
			l := proxiedLog(t, p, f, typ)
			sink := newMemSink()
			m := newMonitor(t, []string{"example.com"}, nil)
			if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
				t.Fatal(err)
			}
			before, n := string(sink.state[l.ID]), len(sink.sightings)
			// A cache serving the older head is fine while the log still
			// proves it is a prefix of the verified tree.
			p.serveHead(oldCP, oldSTH, 0)
			if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
				t.Fatalf("stale head, verified tree still served: %v", err)
			}
			p.serveHead(oldCP, oldSTH, old)
			_, err := m.Sync(context.Background(), l, sink, ctlog.FromStart)
			mis := misbehaviourOf(t, err, ctlog.Rollback)
			if mis.Trusted.Size != uint64(f.HeadSize()) || mis.Served.Size != uint64(old) || !strings.Contains(mis.Detail, "no longer serves") {
				t.Fatalf("heads %v → %v (%s), want %d → %d", mis.Trusted, mis.Served, mis.Detail, f.HeadSize(), old)
			}
			if string(sink.state[l.ID]) != before || len(sink.sightings) != n {
				t.Fatal("position or sightings moved on a rolled-back log")
			}
		})
	}
}

// TestHeadTimestampMisbehaviour (hardening d): a signed head dated
// further in the future than the allowed skew (the clock is injected),
// or a larger tree dated before the verified head, is misbehaviour;
// within the skew it is fine.
func TestHeadTimestampMisbehaviour(t *testing.T) {
	ca := testlab.NewCTCA(t)
	for _, typ := range bothTypes {
		t.Run(string(typ)+"/future", func(t *testing.T) {
			f := testlab.NewFakeLog(t)
			populate(t, f, ca, 20)
			l := fakeLog(t, f, typ)
			now := time.Now()
			for _, tc := range []struct {
				clock time.Time
				bad   bool
			}{{now.Add(-time.Hour), true}, {now.Add(-4 * time.Minute), false}} {
				sink := newMemSink()
				m := newMonitor(t, []string{"example.com"}, func(c *ctlog.Config) { c.Now = func() time.Time { return tc.clock } })
				_, err := m.Sync(context.Background(), l, sink, ctlog.FromStart)
				if !tc.bad {
					if err != nil {
						t.Fatalf("head 4 minutes ahead (skew 5): %v", err)
					}
					continue
				}
				var mis *ctlog.MisbehaviourError
				if !errors.As(err, &mis) || mis.Kind != ctlog.BadTimestamp || mis.Served == nil || !strings.Contains(mis.Detail, "ahead of the clock") {
					t.Fatalf("head an hour ahead: %v", err)
				}
				if sink.commits != 0 {
					t.Fatal("committed a head from the future")
				}
			}
		})
		t.Run(string(typ)+"/older than verified", func(t *testing.T) {
			f := testlab.NewFakeLog(t)
			populate(t, f, ca, 300)
			p := newHeadProxy(t, f)
			l := proxiedLog(t, p, f, typ)
			sink := newMemSink()
			m := newMonitor(t, []string{"example.com"}, nil)
			if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
				t.Fatal(err)
			}
			before := string(sink.state[l.ID])
			for i := range 50 {
				f.Add(t, ca.Cert(t, fmt.Sprintf("n%d.example.com", i)), false, ca.Root.Raw)
			}
			f.Publish(t)
			cp, sth := resign(t, f, f.Origin, time.Now().Add(-24*time.Hour))
			p.serveHead(cp, sth, 0)
			_, err := m.Sync(context.Background(), l, sink, ctlog.FromStart)
			mis := misbehaviourOf(t, err, ctlog.BadTimestamp)
			if mis.Served.Size != uint64(f.HeadSize()) || !mis.Served.Timestamp.Before(mis.Trusted.Timestamp) {
				t.Fatalf("heads %v (%s) → %v (%s)", mis.Trusted, mis.Trusted.Timestamp, mis.Served, mis.Served.Timestamp)
			}
			if string(sink.state[l.ID]) != before {
				t.Fatal("position moved")
			}
		})
	}
}

// TestOriginBinding (hardening e): a static log's checkpoint origin is
// bound — by --log-origin / the config, by the log list, or by the first
// checkpoint verified. A checkpoint signed for another origin than the
// configured one is a configuration error (the log could not be synced;
// nothing moves); one whose origin changed after a head verified is
// misbehaviour.
func TestOriginBinding(t *testing.T) {
	ca := testlab.NewCTCA(t)
	f := testlab.NewFakeLog(t)
	populate(t, f, ca, 30)

	// Configured and matching: synced.
	l := fakeLog(t, f, ctlog.Static)
	l.Origin = f.Origin
	if _, err := newMonitor(t, []string{"example.com"}, nil).Sync(context.Background(), l, newMemSink(), ctlog.FromStart); err != nil {
		t.Fatalf("matching origin: %v", err)
	}
	// Configured and different: a configuration error, nothing committed.
	for _, lc := range []ctlog.LogsConfig{
		{URLs: []string{f.URL}, Keys: []string{f.PublicKeyBase64()}, Types: []string{"static"}, Origins: []string{"other.example/log"}},
		{Configured: []ctlog.LogConfig{{URL: f.URL, Key: f.PublicKeyBase64(), Type: "static", Origin: "other.example/log"}}},
		{URLs: []string{f.URL}, Keys: []string{f.PublicKeyBase64()}, Types: []string{"static"}, LogList: writeLogList(t, f, "https://other.example/log/")},
	} {
		logs, err := lc.Logs()
		if err != nil {
			t.Fatal(err)
		}
		if logs[0].Origin != "other.example/log" {
			t.Fatalf("origin %q not bound from %+v", logs[0].Origin, lc)
		}
		sink := newMemSink()
		_, err = newMonitor(t, []string{"example.com"}, nil).Sync(context.Background(), logs[0], sink, ctlog.FromStart)
		var ce *ctlog.ConfigError
		if !errors.As(err, &ce) || ctlog.IsMisbehaviour(err) || ce.Served == nil || !strings.Contains(ce.Detail, "other.example/log") {
			t.Fatalf("origin mismatch: %v", err)
		}
		if sink.commits != 0 {
			t.Fatal("committed a checkpoint of another origin")
		}
	}
	// The list names the right origin: synced.
	logs, err := ctlog.LogsConfig{URLs: []string{f.URL}, Keys: []string{f.PublicKeyBase64()}, Types: []string{"static"},
		LogList: writeLogList(t, f, "https://"+f.Origin+"/")}.Logs()
	if err != nil || logs[0].Origin != f.Origin {
		t.Fatalf("list origin: %+v, %v", logs, err)
	}
	if _, err := newMonitor(t, []string{"example.com"}, nil).Sync(context.Background(), logs[0], newMemSink(), ctlog.FromStart); err != nil {
		t.Fatalf("list origin: %v", err)
	}

	// Not configured: bound to the first verified checkpoint's origin.
	p := newHeadProxy(t, f)
	pl := proxiedLog(t, p, f, ctlog.Static)
	sink := newMemSink()
	m := newMonitor(t, []string{"example.com"}, nil)
	if _, err := m.Sync(context.Background(), pl, sink, ctlog.FromStart); err != nil {
		t.Fatal(err)
	}
	f.Add(t, ca.Cert(t, "more.example.com"), false, ca.Root.Raw)
	f.Publish(t)
	cp, sth := resign(t, f, "another.example/origin", time.Now())
	p.serveHead(cp, sth, 0)
	_, err = m.Sync(context.Background(), pl, sink, ctlog.FromStart)
	if mis := misbehaviourOf(t, err, ctlog.OriginChanged); !strings.Contains(mis.Detail, "another.example/origin") {
		t.Fatalf("detail %q", mis.Detail)
	}
	// More origins than logs, and an origin for an RFC 6962 log, are refused.
	if _, err := (ctlog.LogsConfig{URLs: []string{f.URL}, Keys: []string{f.PublicKeyBase64()}, Types: []string{"static"}, Origins: []string{"a.example/x", "b.example/y"}}).Logs(); err == nil {
		t.Fatal("two origins for one log accepted")
	}
	if _, err := (ctlog.LogsConfig{URLs: []string{f.URL}, Keys: []string{f.PublicKeyBase64()}, Origins: []string{"x.example/log"}}).Logs(); err == nil {
		t.Fatal("origin accepted for an RFC 6962 log")
	}
}

// writeLogList writes a log list naming f as a tiled log whose
// submission URL is submission, in the retired state (the origin binds a
// log given with --log whatever its state in the list).
func writeLogList(t *testing.T, f *testlab.FakeLog, submission string) string {
	t.Helper()
	ll := map[string]any{"version": "1", "operators": []any{map[string]any{"name": "Test", "email": []string{"ct@example.test"},
		"logs": []any{}, "tiled_logs": []any{map[string]any{
			"description": "fake", "log_id": ctlog.LogID(f.PublicKeyDER), "key": f.PublicKeyBase64(),
			"submission_url": submission, "monitoring_url": f.URL, "mmd": 60,
			"state": map[string]any{"retired": map[string]any{"timestamp": "2026-01-01T00:00:00Z"}},
		}}}}}
	b, err := json.Marshal(ll)
	if err != nil {
		t.Fatal(err)
	}
	p := t.TempDir() + "/log_list.json"
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNotALogIsAConfigError (hardening 17): a URL that serves no CT log
// at all — an HTML page, random bytes — given as a log of either type is
// a configuration error (the log could not be synced), not a log that
// lies: no head of it was ever verified and nothing signed was
// contradicted.
func TestNotALogIsAConfigError(t *testing.T) {
	key := testlab.NewFakeLog(t).PublicKeyBase64()
	for _, body := range []string{"html", "random"} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if body == "random" {
				b := make([]byte, 3000)
				rand.Read(b)
				w.Write(b)
				return
			}
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<!doctype html><html><head><title>Welcome</title></head><body><p>It works!</p></body></html>\n")
		}))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener.Close()
		srv.Listener = ln
		srv.Start()
		t.Cleanup(srv.Close)
		for _, typ := range bothTypes {
			t.Run(body+"/"+string(typ), func(t *testing.T) {
				l, err := ctlog.NewLog(srv.URL+"/", key, typ)
				if err != nil {
					t.Fatal(err)
				}
				sink := newMemSink()
				_, err = newMonitor(t, []string{"example.com"}, nil).Sync(context.Background(), l, sink, ctlog.FromStart)
				var ce *ctlog.ConfigError
				if !errors.As(err, &ce) || ctlog.IsMisbehaviour(err) {
					t.Fatalf("got %v, want a configuration error", err)
				}
				if sink.commits != 0 {
					t.Fatal("committed something")
				}
			})
		}
	}
}

// TestNULPrefixNameIsSighted (hardening b): a SAN or CN holding a NUL
// byte ("www.example.com\x00.evil.test", the null-prefix attack) is
// sighted when what precedes the NUL is watched, carrying the name as
// found in NULNames, not dropped; the names it does not stand for are not
// claimed.
func TestNULPrefixNameIsSighted(t *testing.T) {
	ca := testlab.NewCTCA(t)
	const evil = "www.example.com\x00.evil.test"
	for _, typ := range bothTypes {
		t.Run(string(typ), func(t *testing.T) {
			f := testlab.NewFakeLog(t)
			san := f.Add(t, ca.CertWithTemplate(t, &x509.Certificate{ExtraExtensions: []pkix.Extension{rawSAN(t, evil, "decoy.evil.test")}}), false, ca.Root.Raw)
			cn := f.Add(t, ca.CertWithTemplate(t, &x509.Certificate{Subject: pkix.Name{CommonName: evil}}), false, ca.Root.Raw)
			f.Add(t, ca.CertWithTemplate(t, &x509.Certificate{ExtraExtensions: []pkix.Extension{rawSAN(t, "www.other.test\x00.example.com")}}), false, ca.Root.Raw)
			f.Publish(t)
			sink := newMemSink()
			if _, err := newMonitor(t, []string{"example.com"}, nil).Sync(context.Background(), fakeLog(t, f, typ), sink, ctlog.FromStart); err != nil {
				t.Fatal(err)
			}
			if got := sink.indices(); !slices.Equal(got, []uint64{uint64(san), uint64(cn)}) {
				t.Fatalf("sighted %v, want %d and %d", got, san, cn)
			}
			for _, s := range sink.sightings {
				if !slices.Equal(s.NULNames, []string{evil}) || !slices.Equal(s.Matched, []string{"example.com"}) || slices.Contains(s.Names, "www.example.com") {
					t.Errorf("sighting %d: names %q, NUL names %q, matched %q", s.Index, s.Names, s.NULNames, s.Matched)
				}
			}
			if s := sink.sightings[0]; !slices.Equal(s.Names, []string{"decoy.evil.test"}) {
				t.Errorf("names %q, want the SAN that is a DNS name", s.Names)
			}
		})
	}
}

// rawSAN is a subjectAltName extension of dNSNames encoded as given
// (Go's encoder refuses what these tests need: NULs, non-ASCII).
func rawSAN(t *testing.T, names ...string) pkix.Extension {
	t.Helper()
	var raw []asn1.RawValue
	for _, n := range names {
		raw = append(raw, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(n)})
	}
	b, err := asn1.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: b}
}

// TestIDNADotEquivalentsMatch (hardening c): a CN or SAN written with the
// IDNA full stops U+3002, U+FF0E or U+FF61 names the same domain as with
// ".", and matches the watched one (in watch entries too).
func TestIDNADotEquivalentsMatch(t *testing.T) {
	ca := testlab.NewCTCA(t)
	f := testlab.NewFakeLog(t)
	var want []uint64
	for _, n := range []string{"www\u3002example\u3002com", "shop\uff0eexample\uff0ecom", "pay\uff61example.com", "example\u3002com"} {
		want = append(want,
			uint64(f.Add(t, ca.CertWithTemplate(t, &x509.Certificate{Subject: pkix.Name{CommonName: n}}), false, ca.Root.Raw)),
			uint64(f.Add(t, ca.CertWithTemplate(t, &x509.Certificate{ExtraExtensions: []pkix.Extension{rawSAN(t, n)}}), false, ca.Root.Raw)))
	}
	f.Add(t, ca.CertWithTemplate(t, &x509.Certificate{Subject: pkix.Name{CommonName: "www\u3002example\u3002org"}}), false, ca.Root.Raw)
	f.Publish(t)
	for _, watch := range []string{"example.com", "example\u3002com", "*\uff0eexample.com"} {
		t.Run(watch, func(t *testing.T) {
			sink := newMemSink()
			if _, err := newMonitor(t, []string{watch}, nil).Sync(context.Background(), fakeLog(t, f, ctlog.Static), sink, ctlog.FromStart); err != nil {
				t.Fatal(err)
			}
			w := want
			if strings.HasPrefix(watch, "*") {
				w = want[:6] // subdomains only: not example。com itself
			}
			if got := sink.indices(); !slices.Equal(got, w) {
				t.Fatalf("sighted %v, want %v", got, w)
			}
			for _, s := range sink.sightings {
				if len(s.Names) != 1 || !strings.HasSuffix(s.Names[0], "example.com") {
					t.Errorf("names %q", s.Names)
				}
			}
		})
	}
}

// TestInterruptedSyncCountsCommitted (hardening 16): a sync stopped
// between two commits reports the entries and sightings its Sink holds,
// not what it fetched after the last commit.
func TestInterruptedSyncCountsCommitted(t *testing.T) {
	ca := testlab.NewCTCA(t)
	for _, typ := range bothTypes {
		t.Run(string(typ), func(t *testing.T) {
			f := testlab.NewFakeLog(t)
			populate(t, f, ca, 1500)
			// Entries from 768 on never come: the sync is stopped while
			// it waits for them.
			p := newHeadProxy(t, f)
			p.holdFrom = 768
			l := proxiedLog(t, p, f, typ)
			sink := newMemSink()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m := newMonitor(t, []string{"example.com"}, func(c *ctlog.Config) {
				c.CommitEvery, c.BatchSize, c.Parallel = 512, 256, 1
				// Stop once 768 entries were fetched: 512 are committed.
				c.Progress = func(p ctlog.Progress) {
					if p.Done >= 768 {
						cancel()
					}
				}
			})
			res, err := m.Sync(ctx, l, sink, ctlog.FromStart)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want an interrupted sync", err)
			}
			var st struct{ Size uint64 }
			if err := json.Unmarshal(sink.state[l.ID], &st); err != nil {
				t.Fatal(err)
			}
			if st.Size != 512 || res.Entries != st.Size || res.To != st.Size || res.Sightings != len(sink.sightings) || res.Sightings == 0 {
				t.Fatalf("result: %d entries to %d, %d sightings; sink holds %d entries, %d sightings",
					res.Entries, res.To, res.Sightings, st.Size, len(sink.sightings))
			}
		})
	}
}
