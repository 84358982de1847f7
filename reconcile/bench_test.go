package reconcile_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
	_ "github.com/keyaudit/keyaudit/reconcile/checks"
	"github.com/keyaudit/keyaudit/store/records"
)

// benchData is n observations, each serving a one-certificate chain on its
// own key, n inventory keys of which every other one is a served key, and
// a previous scan in which 1% of the endpoints served another certificate.
type benchData struct {
	now      time.Time
	obs      []records.Observation
	prev     []records.Observation
	keys     []records.Key
	dataHeap uint64
}

func newBenchData(n int) *benchData {
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d := &benchData{now: now, obs: make([]records.Observation, n), prev: make([]records.Observation, n), keys: make([]records.Key, n)}
	t, f := true, false
	start := now.AddDate(0, -6, 0)
	for i := range n {
		name := fmt.Sprintf("h%07d.example.com", i)
		spki := fmt.Sprintf("%064x", i)
		c := certinfo.Cert{SHA256: fmt.Sprintf("c%063x", i), SPKISHA256: spki, Subject: "CN=" + name, Issuer: "CN=R11,O=Let's Encrypt,C=US",
			Serial: fmt.Sprintf("%x", i), SANs: []string{name}, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(0, 2, 0),
			KeyType: "ECDSA", KeyBits: 256, Curve: "P-256", SignatureAlgorithm: "ECDSA-SHA256"}
		ip := fmt.Sprintf("2001:db8::%x", i)
		d.obs[i] = records.Observation{Target: name + ":443", Host: name, IP: ip, Port: 443, SNI: name, Protocol: "tls", TLSVersion: "TLS 1.3",
			CipherSuite: "TLS_AES_128_GCM_SHA256", Group: "X25519MLKEM768", Time: now, Chain: []certinfo.Cert{c}}
		d.prev[i] = d.obs[i]
		if i%100 == 0 { // renewed since the previous scan
			old := c
			old.SHA256, old.NotAfter = fmt.Sprintf("o%063x", i), now.AddDate(0, 0, -1)
			d.prev[i].Chain = []certinfo.Cert{old}
		}
		kspki := spki
		if i%2 == 1 {
			kspki = fmt.Sprintf("k%063x", i) // in the inventory, served nowhere
		}
		d.keys[i] = records.Key{Source: "pkcs11", Token: "hsm1", Label: name, ID: fmt.Sprintf("%x", i), Class: records.ClassPrivateKey,
			KeyType: "EC", KeyBits: 256, Curve: "P-256", SPKISHA256: kspki, Sensitive: &t, Extractable: &f, Usage: []string{"sign"}, StartDate: &start}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	d.dataHeap = after.HeapAlloc - before.HeapAlloc
	return d
}

// BenchmarkReconcileMillion runs every registered check over 1,000,000
// observations and 1,000,000 inventory keys (half of them served):
//
//	go test ./reconcile -run '^$' -bench ReconcileMillion -benchtime 1x
func BenchmarkReconcileMillion(b *testing.B) {
	const n = 1_000_000
	d := newBenchData(n)
	// The estate view of two complete scans: the previous one, then the
	// current one.
	prevByKey := make(map[string]*records.Observation, len(d.prev))
	for i := range d.prev {
		o := &d.prev[i]
		prevByKey[o.Protocol+"|"+o.Target+"|"+o.IP] = o
	}
	endpoints := make([]reconcile.EndpointState, 0, len(d.obs))
	for i := range d.obs {
		o := d.obs[i]
		k := o.Protocol + "|" + o.Target + "|" + o.IP
		at := []reconcile.Attempt{{RunID: 2, Counted: true, Obs: o}}
		if p, ok := prevByKey[k]; ok {
			at = append(at, reconcile.Attempt{RunID: 1, Counted: true, Obs: *p})
		}
		endpoints = append(endpoints, reconcile.FoldEndpoint(k, at, 0, 1))
	}
	b.ReportAllocs()
	b.ResetTimer()
	var findings int
	for b.Loop() {
		s := reconcile.Snapshot{Now: d.now, Observations: d.obs, Keys: d.keys, Watched: []string{"example.com"},
			Sources:   []reconcile.SourceStatus{{Kind: "scan", RunID: 2, Status: "complete"}, {Kind: "inventory", RunID: 3, Status: "complete"}},
			Endpoints: endpoints}
		res := reconcile.Run(&s, reconcile.Options{})
		findings = len(res.Findings)
	}
	b.ReportMetric(float64(findings), "findings")
	b.ReportMetric(float64(d.dataHeap)/(1<<20), "input-MB")
}
