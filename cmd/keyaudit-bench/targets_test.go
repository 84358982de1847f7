package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestScanTargets: each target is judged from the medians, a missing peer
// or run is "not measured", and the table says which hold.
func TestScanTargets(t *testing.T) {
	s := func(tool string, conc int, kind string, targets, ok int, wall, cpu, rss float64) sample {
		return sample{Tool: tool, Conc: conc, Kind: kind, Targets: targets, Live: targets, OK: ok, Wall: wall, User: cpu, RSSMiB: rss, AnonMiB: rss / 2}
	}
	in := reportInput{conc: 200, concHigh: 1000, growth: 10, samples: []sample{
		s("keyaudit", 200, "main", 2000, 2000, 4.0, 2.4, 28), // 500/s, 1.2 ms
		s("keyaudit", 200, "main", 2000, 2000, 4.2, 2.6, 29),
		s("bare", 200, "main", 2000, 2000, 4.0, 2.0, 25), // 500/s, 1.0 ms
		s("tlsx", 200, "main", 2000, 2000, 5.0, 2.0, 70), // 400/s
		s("keyaudit", 1000, "main", 2000, 2000, 4.0, 2.4, 70),
		s("keyaudit", 200, "growth", 20000, 20000, 40, 24, 31),
		s("keyaudit", 1000, "tarpit", 2000, 1800, 6, 3, 60),
	}}
	in.samples[len(in.samples)-1].Live = 1800
	var groups []*group
	for _, x := range in.samples {
		if x.Kind != "main" {
			continue
		}
		var g *group
		for _, h := range groups {
			if h.tool == x.Tool && h.conc == x.Conc {
				g = h
			}
		}
		if g == nil {
			g = &group{tool: x.Tool, conc: x.Conc}
			groups = append(groups, g)
		}
		g.samples = append(g.samples, x)
	}
	find := func(tool string, conc int) *group {
		for _, g := range groups {
			if g.tool == tool && g.conc == conc {
				return g
			}
		}
		return nil
	}
	got := map[string]string{}
	for _, v := range scanTargets(in, find) {
		got[v.target] = v.measured + " " + v.word()
	}
	want := map[string]string{
		"endpoints/s at c200 ≥ 0.95× the bare loop":                    "0.98× holds",
		"endpoints/s at c200 ≥ 1.05× tlsx":                             "1.22× holds",
		"endpoints/s at c200 ≥ 1.35× zgrab2":                           " not measured",
		"client CPU per endpoint at c200 ≤ 1.1× the bare loop":         "1.25× does not hold",
		"peak RSS at c200 < 30 MiB":                                    "28.5 MiB (anonymous 14.2 MiB) holds",
		"peak RSS at c1000 < 64 MiB":                                   "70.0 MiB (anonymous 35.0 MiB) does not hold",
		"peak RSS flat when targets grow 10× (≤ 1.1× the c200 figure)": "31.0 MiB vs 28.5 MiB holds",
		"no live endpoint lost among tarpits":                          "0 lost in 1 rounds holds",
	}
	if len(got) != len(want) {
		t.Errorf("%d targets, want %d: %v", len(got), len(want), got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	var b bytes.Buffer
	printTargets(&b, scanTargets(in, find))
	if !strings.Contains(b.String(), "| endpoints/s at c200 ≥ 1.35× zgrab2 | – | not measured |") {
		t.Errorf("table:\n%s", b.String())
	}
}
