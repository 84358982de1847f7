package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

// BenchmarkPut writes what a scan writes per endpoint — an observation
// (≈1.3 KB of JSON) and its leaf certificate item (≈1.6 KB) — in batches
// of 256, as the scan stage's recorder does.
func BenchmarkPut(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	run, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"})
	if err != nil {
		b.Fatal(err)
	}
	obs, _ := json.Marshal(map[string]any{"target": "127.0.0.1:443", "chain": strings.Repeat("x", 1200)})
	cert, _ := json.Marshal(map[string]any{"der": strings.Repeat("y", 1500)})
	var batch []store.Item
	b.ResetTimer()
	for i := range b.N {
		sha := fmt.Sprintf("%064x", i)
		batch = append(batch,
			store.Item{Kind: store.KindObservation, Key: fmt.Sprintf("tls|127.0.%d.%d:443|", i/250, i%250), SPKISHA256: sha, CertSHA256: sha, Data: obs},
			store.Item{Kind: "certificate", Key: sha, SPKISHA256: sha, CertSHA256: sha, Data: cert})
		if len(batch) >= 512 || i == b.N-1 {
			if err := s.Put(ctx, run.ID, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}
