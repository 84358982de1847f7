package stage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

// BenchmarkLoadEstate builds the estate view of 10,000 endpoints scanned
// by 5, 20 and 60 complete runs from a SQLite store. The view reads each
// endpoint's latest attempts only, so its cost grows with the endpoints,
// not with the history:
//
//	go test ./stage -run '^$' -bench LoadEstate -benchtime 3x
func BenchmarkLoadEstate(b *testing.B) {
	for _, runs := range []int{5, 20, 60} {
		b.Run(fmt.Sprintf("runs=%d", runs), func(b *testing.B) { benchLoadEstate(b, 10_000, runs) })
	}
}

func benchLoadEstate(b *testing.B, endpoints, runs int) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "k.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	t0 := time.Now().Add(-time.Hour)
	for r := 0; r < runs; r++ {
		run, err := st.BeginRun(ctx, store.RunSpec{Kind: "scan"})
		if err != nil {
			b.Fatal(err)
		}
		items := make([]store.Item, 0, endpoints)
		for i := 0; i < endpoints; i++ {
			o := scanner.Observation{Target: fmt.Sprintf("h%d.example.test:443", i), Host: fmt.Sprintf("h%d.example.test", i),
				IP: fmt.Sprintf("2001:db8::%x", i), Port: 443, Protocol: "tls", TLSVersion: "TLS 1.3",
				Time:  t0.Add(time.Duration(r) * time.Minute),
				Chain: []certinfo.Cert{{Subject: "CN=x", SHA256: fmt.Sprintf("c%063d", i), SPKISHA256: fmt.Sprintf("s%063d", i), KeyType: "ECDSA", Curve: "P-256"}}}
			its, err := records.ObservationItems(o, nil)
			if err != nil {
				b.Fatal(err)
			}
			items = append(items, its[0])
		}
		if err := st.Put(ctx, run.ID, items...); err != nil {
			b.Fatal(err)
		}
		if err := st.FinishRun(ctx, run.ID, store.StatusComplete, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := LoadEstate(ctx, st, EstateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Endpoints) != endpoints {
			b.Fatalf("%d endpoints", len(s.Endpoints))
		}
	}
	b.ReportMetric(float64(endpoints*runs), "observations")
}
