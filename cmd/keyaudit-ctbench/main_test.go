package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/testlab"
)

type countSink struct {
	state     []byte
	sightings []ctlog.Sighting
}

func (s *countSink) Load(context.Context, ctlog.Log) ([]byte, error) { return s.state, nil }
func (s *countSink) Commit(_ context.Context, _ ctlog.Log, st []byte, ss []ctlog.Sighting) error {
	s.state = st
	s.sightings = append(s.sightings, ss...)
	return nil
}

// TestGeneratedLogVerifies: the generated log is a valid CT log through
// both APIs — the monitor verifies its checkpoint, tree head, tiles and
// entries — and its entries match as the corpus says: every one under
// "example", meta.Targets under "target.example", the share of
// precertificates and the sizes it reports.
func TestGeneratedLogVerifies(t *testing.T) {
	dir := t.TempDir()
	meta, err := generate(dir, 1100, 7)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Targets != 1 || meta.Precerts < 400 || meta.Precerts > 620 || meta.LeafBytes/meta.Entries < 1200 || meta.LeafBytes/meta.Entries > 2000 {
		t.Fatalf("corpus %+v", meta)
	}
	r, err := newRFCLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(dir))))
	mux.Handle("/rfc/ct/v1/", http.StripPrefix("/rfc/ct/v1/", r))
	srv := httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testlab.MustLoopback(t, ln.Addr().String())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	for _, tc := range []struct {
		typ  ctlog.Type
		path string
	}{{ctlog.Static, "static/"}, {ctlog.RFC6962, "rfc/"}} {
		for _, w := range []struct {
			watch string
			want  int64
		}{{"target.example", meta.Targets}, {"example", meta.Entries}} {
			l, err := ctlog.NewLog(srv.URL+"/"+tc.path, meta.Key, tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			if tc.typ == ctlog.Static {
				l.Origin = meta.Origin
			}
			wl, err := ctlog.NewWatchlist([]string{w.watch})
			if err != nil {
				t.Fatal(err)
			}
			m, err := ctlog.New(ctlog.Config{Watch: wl, RateLimit: 100000, Burst: 100})
			if err != nil {
				t.Fatal(err)
			}
			sink := &countSink{}
			res, err := m.Sync(context.Background(), l, sink, ctlog.FromStart)
			if err != nil {
				t.Fatalf("%s: %v", tc.typ, err)
			}
			if res.To != uint64(meta.Entries) || int64(len(sink.sightings)) != w.want || res.Unparsed != 0 {
				t.Fatalf("%s watching %s: %+v, %d sightings, want %d", tc.typ, w.watch, res, len(sink.sightings), w.want)
			}
			for _, s := range sink.sightings {
				if s.Lenient || s.SPKISHA256 == "" || s.CertSHA256 == "" || s.Issuer == "" {
					t.Fatalf("sighting %+v", s)
				}
			}
		}
	}
}
