package ctlog_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/sunlight"
	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/testlab"
)

// tileSet is a static-ct-api log written to disk (data tiles, hash tiles,
// signed checkpoint), for ingest benchmarks.
type tileSet struct {
	dir    string
	size   int64
	keyB64 string
	want   int // watched entries
}

// writeTileSet writes n entries: certificates from a pool of realistic
// ones (≈600 bytes), every watchEvery-th a unique watched one. Memory
// stays flat: only stored hashes (≈64 bytes per entry) are kept.
func writeTileSet(tb testing.TB, dir string, n int64, watchEvery int64) *tileSet {
	tb.Helper()
	ca := testlab.NewCTCA(tb)
	var pool [][]byte
	for i := 0; i < 64; i++ {
		pool = append(pool, ca.Cert(tb, fmt.Sprintf("www%d.unwatched.test", i), fmt.Sprintf("api%d.unwatched.test", i)))
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(key.Public())
	var hashes []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	fp := sha256.Sum256(ca.Root.Raw)
	write := func(p string, b []byte) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	ts := &tileSet{dir: dir, size: n, keyB64: base64.StdEncoding.EncodeToString(pub)}
	var tile []byte
	for i := int64(0); i < n; i++ {
		der := pool[i%int64(len(pool))]
		if watchEvery > 0 && i%watchEvery == 0 {
			der = ca.Cert(tb, fmt.Sprintf("w%d.example.com", i))
			ts.want++
		}
		e := &sunlight.LogEntry{Certificate: der, LeafIndex: i, Timestamp: 1_700_000_000_000 + i, ChainFingerprints: [][32]byte{fp}}
		tile = sunlight.AppendTileLeaf(tile, e)
		hs, err := tlog.StoredHashes(i, e.MerkleTreeLeaf(), hr)
		if err != nil {
			tb.Fatal(err)
		}
		hashes = append(hashes, hs...)
		if (i+1)%sunlight.TileWidth == 0 || i == n-1 {
			w := int((i % sunlight.TileWidth) + 1)
			write(sunlight.TilePath(tlog.Tile{H: 8, L: -1, N: i / sunlight.TileWidth, W: w}), tile)
			tile = tile[:0]
		}
	}
	for _, t := range tlog.NewTiles(8, 0, n) {
		b, err := tlog.ReadTileData(t, hr)
		if err != nil {
			tb.Fatal(err)
		}
		write(sunlight.TilePath(t), b)
	}
	write("issuer/"+fmt.Sprintf("%x", fp), ca.Root.Raw)
	root, err := tlog.TreeHash(n, hr)
	if err != nil {
		tb.Fatal(err)
	}
	write("checkpoint", signCheckpoint(tb, key, pub, "bench.keyaudit.test/log", n, root))
	return ts
}

func signCheckpoint(tb testing.TB, key *ecdsa.PrivateKey, pub []byte, origin string, n int64, root tlog.Hash) []byte {
	tb.Helper()
	ts := uint64(time.Now().UnixMilli())
	in, err := ct.SerializeSTHSignatureInput(ct.SignedTreeHead{Version: ct.V1, TreeSize: uint64(n), Timestamp: ts, SHA256RootHash: ct.SHA256Hash(root)})
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := cttls.CreateSignature(*key, cttls.SHA256, in)
	if err != nil {
		tb.Fatal(err)
	}
	keyID := sha256.Sum256(pub)
	h := sha256.New()
	h.Write([]byte(origin + "\n\x05"))
	h.Write(keyID[:])
	s := &noteSigner{name: origin, hash: binary.BigEndian.Uint32(h.Sum(nil)), sig: func() []byte {
		var b cryptobyte.Builder
		b.AddUint64(ts)
		b.AddUint8(uint8(sig.Algorithm.Hash))
		b.AddUint8(uint8(sig.Algorithm.Signature))
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sig.Signature) })
		return b.BytesOrPanic()
	}}
	out, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", origin, n, base64.StdEncoding.EncodeToString(root[:]))}, s)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

type noteSigner struct {
	name string
	hash uint32
	sig  func() []byte
}

func (s *noteSigner) Name() string                { return s.name }
func (s *noteSigner) KeyHash() uint32             { return s.hash }
func (s *noteSigner) Sign([]byte) ([]byte, error) { return s.sig(), nil }

// countSink counts sightings and keeps only the state.
type countSink struct {
	mu        sync.Mutex
	state     []byte
	sightings atomic.Int64
}

func (s *countSink) Load(context.Context, ctlog.Log) ([]byte, error) { return nil, nil }
func (s *countSink) Commit(_ context.Context, _ ctlog.Log, st []byte, ss []ctlog.Sighting) error {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
	s.sightings.Add(int64(len(ss)))
	return nil
}

// heapPeak samples the live heap until stop is called.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

func serveTileSet(tb testing.TB, ts *tileSet) ctlog.Log {
	srv := httptest.NewServer(http.FileServer(http.Dir(ts.dir)))
	tb.Cleanup(srv.Close)
	l, err := ctlog.NewLog(srv.URL+"/", ts.keyB64, ctlog.Static)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// BenchmarkIngestStatic measures the whole ingest path against a local
// static-ct-api tile set served over HTTP: fetch, parse, hash, rebuild
// the tree, verify against the signed checkpoint, match, commit.
func BenchmarkIngestStatic(b *testing.B) {
	const n = 1 << 16
	ts := writeTileSet(b, b.TempDir(), n, 1000)
	l := serveTileSet(b, ts)
	m := newMonitor(b, []string{"example.com"}, func(c *ctlog.Config) { c.Parallel = runtime.GOMAXPROCS(0) * 2; c.CommitEvery = 16384 })
	b.ResetTimer()
	start := time.Now()
	stop := heapPeak()
	for i := 0; i < b.N; i++ {
		sink := &countSink{}
		if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
			b.Fatal(err)
		}
		if got := sink.sightings.Load(); got != int64(ts.want) {
			b.Fatalf("%d sightings, want %d", got, ts.want)
		}
	}
	peak := stop()
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(n*b.N)/el, "entries/s")
	b.ReportMetric(float64(n*b.N)/el/float64(runtime.GOMAXPROCS(0)), "entries/s/core")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// TestCatchUpMillion reports the catch-up time and peak heap of a
// 1,000,000-entry tile set (KEYAUDIT_CT_MILLION=1; the tile set takes
// ≈1 GB on disk and a minute to write).
func TestCatchUpMillion(t *testing.T) {
	n, _ := strconv.ParseInt(os.Getenv("KEYAUDIT_CT_MILLION"), 10, 64)
	if n == 0 {
		t.Skip("set KEYAUDIT_CT_MILLION=1 (or an entry count) to run")
	}
	if n == 1 {
		n = 1_000_000
	}
	dir := os.Getenv("KEYAUDIT_CT_MILLION_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	began := time.Now()
	ts := writeTileSet(t, dir, n, 10000)
	t.Logf("wrote %d entries in %v", n, time.Since(began).Round(time.Second))
	l := serveTileSet(t, ts)
	m := newMonitor(t, []string{"example.com"}, func(c *ctlog.Config) { c.Parallel = runtime.GOMAXPROCS(0) * 2 })
	sink := &countSink{}
	stop := heapPeak()
	began = time.Now()
	res, err := m.Sync(context.Background(), l, sink, ctlog.FromStart)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(began)
	peak := stop()
	if res.To != uint64(n) || sink.sightings.Load() != int64(ts.want) {
		t.Fatalf("result %+v, %d sightings, want %d", res, sink.sightings.Load(), ts.want)
	}
	t.Logf("caught up %d entries in %v: %.0f entries/s (%.0f per core), peak heap %.1f MiB",
		n, el.Round(time.Millisecond), float64(n)/el.Seconds(), float64(n)/el.Seconds()/float64(runtime.GOMAXPROCS(0)), float64(peak)/(1<<20))
}
