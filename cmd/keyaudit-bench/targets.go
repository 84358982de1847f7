package main

import (
	"fmt"
	"io"
)

// verdict is one performance target of keyaudit's scan, what this run
// measured for it, and whether it holds.
type verdict struct {
	target   string
	measured string
	holds    *bool // nil: not measured in this run
}

func (v verdict) word() string {
	switch {
	case v.holds == nil:
		return "not measured"
	case *v.holds:
		return "holds"
	}
	return "does not hold"
}

// scanTargets judges the run against keyaudit's scan targets: throughput
// and client CPU beside the bare loop and the peers at the main
// concurrency, peak RSS at both concurrencies and when targets grow, and
// no live endpoint lost among tarpits. find returns a tool's group at a
// concurrency, or nil.
func scanTargets(in reportInput, find func(tool string, conc int) *group) []verdict {
	var out []verdict
	ka := find("keyaudit", in.conc)
	ratio := func(name string, den *group, f func(sample) float64, want float64, atLeast bool) {
		v := verdict{target: name}
		if ka != nil && den != nil && den.med(f) > 0 {
			r := ka.med(f) / den.med(f)
			h := r >= want
			if !atLeast {
				h = r <= want
			}
			v.measured, v.holds = fmt.Sprintf("%.2f×", r), &h
		}
		out = append(out, v)
	}
	c := in.conc
	ratio(fmt.Sprintf("endpoints/s at c%d ≥ 0.95× the bare loop", c), find("bare", c), sample.rate, 0.95, true)
	ratio(fmt.Sprintf("endpoints/s at c%d ≥ 1.05× tlsx", c), find("tlsx", c), sample.rate, 1.05, true)
	ratio(fmt.Sprintf("endpoints/s at c%d ≥ 1.35× zgrab2", c), find("zgrab2", c), sample.rate, 1.35, true)
	ratio(fmt.Sprintf("client CPU per endpoint at c%d ≤ 1.1× the bare loop", c), find("bare", c), perEndpointMS, 1.1, false)

	rss := func(name string, g *group, limit float64) {
		v := verdict{target: name}
		if g != nil {
			m := g.med(func(s sample) float64 { return s.RSSMiB })
			h := m < limit
			v.measured, v.holds = fmt.Sprintf("%.1f MiB (anonymous %.1f MiB)", m, g.med(func(s sample) float64 { return s.AnonMiB })), &h
		}
		out = append(out, v)
	}
	rss(fmt.Sprintf("peak RSS at c%d < 30 MiB", c), ka, 30)
	if in.concHigh > 0 {
		rss(fmt.Sprintf("peak RSS at c%d < 64 MiB", in.concHigh), find("keyaudit", in.concHigh), 64)
	}
	growth := verdict{target: fmt.Sprintf("peak RSS flat when targets grow %d× (≤ 1.1× the c%d figure)", in.growth, c)}
	for _, s := range in.samples {
		if s.Kind == "growth" && s.Tool == "keyaudit" && ka != nil {
			base := ka.med(func(s sample) float64 { return s.RSSMiB })
			h := s.RSSMiB <= 1.1*base
			growth.measured, growth.holds = fmt.Sprintf("%.1f MiB vs %.1f MiB", s.RSSMiB, base), &h
		}
	}
	out = append(out, growth)
	lost := verdict{target: "no live endpoint lost among tarpits"}
	n, rounds := 0, 0
	for _, s := range in.samples {
		if s.Kind == "tarpit" && s.Tool == "keyaudit" {
			n += s.Live - s.OK
			rounds++
		}
	}
	if rounds > 0 {
		h := n == 0
		lost.measured, lost.holds = fmt.Sprintf("%d lost in %d rounds", n, rounds), &h
	}
	return append(out, lost)
}

func printTargets(w io.Writer, vs []verdict) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | verdict |")
	fmt.Fprintln(w, "|---|---:|---|")
	for _, v := range vs {
		m := v.measured
		if m == "" {
			m = "–"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", v.target, m, v.word())
	}
}
