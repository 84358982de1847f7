package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

type reportInput struct {
	n, rounds, conc, concHigh, growth, tarpitPct int
	tarpitTimeout, timeout                       time.Duration
	farm                                         farmSummary
	network                                      string
	samples                                      []sample
	loadBefore, keyauditLabel                    string
}

// loadAvg is the first three fields of /proc/loadavg: other work on the
// machine shows up in every number here.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

type group struct {
	tool    string
	conc    int
	samples []sample
}

func (g group) med(f func(sample) float64) float64 {
	var xs []float64
	for _, s := range g.samples {
		xs = append(xs, f(s))
	}
	return median(xs)
}

func (g group) spread(f func(sample) float64, format string) string {
	lo, hi := f(g.samples[0]), f(g.samples[0])
	for _, s := range g.samples[1:] {
		lo, hi = min(lo, f(s)), max(hi, f(s))
	}
	if fmt.Sprintf(format, lo) == fmt.Sprintf(format, hi) {
		return fmt.Sprintf(format, lo)
	}
	return fmt.Sprintf(format+"–"+format, lo, hi)
}

func perEndpointMS(s sample) float64 { return 1000 * s.cpu() / float64(max(1, s.Targets)) }
func perOKMS(s sample) float64 {
	if s.OK == 0 {
		return 0
	}
	return 1000 * s.cpu() / float64(s.OK)
}

func report(w io.Writer, in reportInput) {
	var groups []*group
	find := func(tool string, conc int) *group {
		for _, g := range groups {
			if g.tool == tool && g.conc == conc {
				return g
			}
		}
		return nil
	}
	for _, s := range in.samples {
		if s.Kind != "main" {
			continue
		}
		g := find(s.Tool, s.Conc)
		if g == nil {
			g = &group{tool: s.Tool, conc: s.Conc}
			groups = append(groups, g)
		}
		g.samples = append(g.samples, s)
	}

	fmt.Fprintf(w, "machine: %d cores (%s), %s/%s; %s\n", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, in.network)
	if in.keyauditLabel != "" {
		fmt.Fprintf(w, "keyaudit: %s\n", in.keyauditLabel)
	}
	fmt.Fprintf(w, "farm: %d TLS endpoints, %d addresses from 127.0.%d.1 × ports %v, Go crypto/tls servers in one process on the same cores as the client\n",
		in.farm.Live, (in.farm.Live+len(farmPorts)-1)/len(farmPorts), liveNet, farmPorts)
	fmt.Fprintf(w, "farm mix: %s\n", describeMix(in.farm))
	var order []string
	for _, g := range groups {
		order = append(order, fmt.Sprintf("%s c%d", g.tool, g.conc))
	}
	fmt.Fprintf(w, "runs: %d alternating rounds of [%s]; medians over rounds (min–max where they differ); per-endpoint timeout %s\n\n",
		in.rounds, strings.Join(order, ", "), in.timeout)

	fmt.Fprintln(w, "| tool | concurrency | endpoints/s | wall s | client CPU s | CPU ms/endpoint | CPU ms/handshake | peak RSS MiB | peak anon MiB | handshakes ok | farm CPU s |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, g := range groups {
		fmt.Fprintf(w, "| %s | %d | %.0f (%s) | %.2f | %.2f | %.3f | %.3f | %.1f | %.1f | %s / %d | %.2f |\n",
			g.tool, g.conc, g.med(sample.rate), g.spread(sample.rate, "%.0f"), g.med(func(s sample) float64 { return s.Wall }),
			g.med(sample.cpu), g.med(perEndpointMS), g.med(perOKMS), g.med(func(s sample) float64 { return s.RSSMiB }),
			g.med(func(s sample) float64 { return s.AnonMiB }),
			g.spread(func(s sample) float64 { return float64(s.OK) }, "%.0f"), g.samples[0].Targets,
			g.med(func(s sample) float64 { return s.FarmCPU }))
	}

	type ratio struct {
		name     string
		num, den *group
	}
	ka := find("keyaudit", in.conc)
	ratios := []ratio{{fmt.Sprintf("keyaudit / bare, c%d", in.conc), ka, find("bare", in.conc)}}
	if in.concHigh > 0 {
		ratios = append(ratios, ratio{fmt.Sprintf("keyaudit / bare, c%d", in.concHigh), find("keyaudit", in.concHigh), find("bare", in.concHigh)})
	}
	ratios = append(ratios,
		ratio{fmt.Sprintf("keyaudit / tlsx, c%d", in.conc), ka, find("tlsx", in.conc)},
		ratio{fmt.Sprintf("keyaudit / zgrab2, c%d", in.conc), ka, find("zgrab2", in.conc)})
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| ratio (medians) | endpoints/s | client CPU per endpoint | client CPU per handshake | peak RSS |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, r := range ratios {
		if r.num == nil || r.den == nil {
			fmt.Fprintf(w, "| %s | n/a | n/a | n/a | n/a |\n", r.name)
			continue
		}
		div := func(f func(sample) float64) string {
			d := r.den.med(f)
			if d == 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.2f", r.num.med(f)/d)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.name, div(sample.rate), div(perEndpointMS), div(perOKMS),
			div(func(s sample) float64 { return s.RSSMiB }))
	}

	printTargets(w, scanTargets(in, find))

	for _, s := range in.samples {
		if s.Kind != "growth" {
			continue
		}
		fmt.Fprintf(w, "\ngrowth: keyaudit c%d over %d endpoints (%d× the farm, each a distinct endpoint): %.0f endpoints/s, %.3f CPU ms/endpoint, peak RSS %.1f MiB (%.1f MiB over %d endpoints), %d / %d handshakes ok\n",
			s.Conc, s.Targets, in.growth, s.rate(), perEndpointMS(s), s.RSSMiB,
			func() float64 {
				if ka == nil {
					return 0
				}
				return ka.med(func(s sample) float64 { return s.RSSMiB })
			}(), in.n, s.OK, s.Targets)
	}

	var tp []*group
	for _, kind := range []string{"tarpit", "tarpit-control"} {
		for _, tool := range []string{"keyaudit", "bare"} {
			g := &group{tool: tool}
			for _, s := range in.samples {
				if s.Kind == kind && s.Tool == tool {
					g.samples = append(g.samples, s)
					g.conc = s.Conc
				}
			}
			if len(g.samples) > 0 {
				tp = append(tp, g)
			}
		}
	}
	if len(tp) > 0 {
		first := tp[0].samples[0]
		fmt.Fprintf(w, "\ntarpit: %d targets, %d%% of them accept TCP and never answer, timeout %s, concurrency %d, %d rounds; control: the same %d live endpoints without the tarpits\n\n",
			first.Targets, in.tarpitPct, in.tarpitTimeout, first.Conc, len(tp[0].samples), first.Live)
		fmt.Fprintln(w, "| tool | targets | live endpoints | live handshakes ok | live lost | wall s | client CPU s | peak RSS MiB |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
		for _, g := range tp {
			s0 := g.samples[0]
			what := "with tarpits"
			if s0.Kind == "tarpit-control" {
				what = "control, no tarpits"
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %.2f | %.2f | %.1f |\n", g.tool, what, s0.Live,
				g.spread(func(s sample) float64 { return float64(s.OK) }, "%.0f"),
				g.spread(func(s sample) float64 { return float64(s.Live - s.OK) }, "%.0f"),
				g.med(func(s sample) float64 { return s.Wall }), g.med(sample.cpu), g.med(func(s sample) float64 { return s.RSSMiB }))
		}
	}
	fmt.Fprintf(w, "\nload average (1, 5, 15 min) before: %s; after: %s\n", in.loadBefore, loadAvg())
}
