package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// growthChunk is the most endpoints one extra farm process serves: a
// process may hold only so many descriptors (listeners plus connections).
const growthChunk = 5000

// tarpitRounds caps the rounds of the tarpit runs (each pays the
// timeout at least once).
const tarpitRounds = 3

// maxOutputLine bounds one line of a tool's JSON output.
const maxOutputLine = 4 << 20

// sample is one measured run of one tool.
type sample struct {
	Tool    string  `json:"tool"`
	Conc    int     `json:"concurrency"`
	Kind    string  `json:"kind"` // main, growth, tarpit, tarpit-control
	Round   int     `json:"round"`
	Targets int     `json:"targets"`
	Live    int     `json:"live"` // targets that can complete a handshake
	OK      int     `json:"ok"`   // targets that completed one
	Wall    float64 `json:"wall_s"`
	User    float64 `json:"user_s"`
	Sys     float64 `json:"sys_s"`
	RSSMiB  float64 `json:"peak_rss_mib"`
	// AnonMiB is the peak of the anonymous part of RSS (heap, stacks),
	// sampled from /proc every 10 ms: RSSMiB also counts the program's
	// text mapped from the page cache, whose size depends on the folios
	// the kernel built for the binary file (2 MiB ones, PMD-mapped, for a
	// binary just written by the linker), not on the work done.
	AnonMiB float64 `json:"peak_anon_mib"`
	FarmCPU float64 `json:"farm_cpu_s"`
	Exit    int     `json:"exit"`
	Note    string  `json:"note,omitempty"`
}

func (s sample) cpu() float64 { return s.User + s.Sys }
func (s sample) rate() float64 {
	if s.Wall == 0 {
		return 0
	}
	return float64(s.Targets) / s.Wall
}

type bench struct {
	self, keyaudit, zgrab2, tlsx string
	bareBin                      string // the copy of self the bare loop runs from
	work                         string
	timeout                      time.Duration
	farms                        []*exec.Cmd
	runs                         int
	log                          io.Writer
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	n := fs.Int("endpoints", 2000, "live TLS endpoints in the farm")
	rounds := fs.Int("rounds", 3, "alternating rounds of every configuration (medians over them)")
	conc := fs.Int("conc", 200, "concurrency of the comparison")
	concHigh := fs.Int("conc-high", 1000, "second concurrency for keyaudit and the bare loop (0: skip)")
	growth := fs.Int("growth", 10, "target growth factor for the RSS check (1: skip)")
	tarpitPct := fs.Int("tarpit-percent", 10, "share of tarpits in the tarpit run (0: skip)")
	tarpitTimeout := fs.Duration("tarpit-timeout", 2*time.Second, "per-endpoint timeout of the tarpit run")
	timeout := fs.Duration("timeout", 10*time.Second, "per-endpoint timeout of the other runs")
	keyaudit := fs.String("keyaudit", "bin/keyaudit", "keyaudit binary")
	label := fs.String("keyaudit-label", "", "what the keyaudit binary was built from, for the report")
	peers := fs.String("peers", "", "folder with the zgrab2 and tlsx binaries (missing ones are skipped)")
	pkiDir := fs.String("pki", "", "folder caching the farm's PKI (default: the work folder)")
	work := fs.String("work", "", "work folder (default: a temp folder, removed afterwards)")
	jsonOut := fs.String("json", "", "also write every sample as JSON here")
	fs.Parse(args)
	if *n < 10 || *rounds < 1 || *conc < 1 || *concHigh < 0 || *growth < 1 || *tarpitPct < 0 || *tarpitPct >= 100 {
		return fmt.Errorf("run: need -endpoints >= 10, -rounds >= 1, -conc >= 1, -growth >= 1, 0 <= -tarpit-percent < 100")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b := &bench{self: self, timeout: *timeout, log: os.Stderr}
	if b.keyaudit, err = filepath.Abs(*keyaudit); err != nil {
		return err
	}
	if _, err := os.Stat(b.keyaudit); err != nil {
		return fmt.Errorf("run: keyaudit binary: %w", err)
	}
	for name, dst := range map[string]*string{"zgrab2": &b.zgrab2, "tlsx": &b.tlsx} {
		p := filepath.Join(*peers, name)
		if st, err := os.Stat(p); *peers != "" && err == nil && st.Mode()&0o111 != 0 {
			*dst = p
		} else {
			fmt.Fprintf(os.Stderr, "bench: no %s binary in %q (make peers): skipping it\n", name, *peers)
		}
	}
	b.work = *work
	if b.work == "" {
		d, err := os.MkdirTemp("", "keyaudit-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		b.work = d
	}
	// Every measured program runs from a copy of its own whose cached
	// pages are dropped first, so that each maps its file as one read from
	// disk: the kernel maps about 10 MiB more of a binary whose pages are
	// still in the cache from being written (the Go linker's output, just
	// built) than of the same file read back, and RSS counts mapped pages
	// — the freshly built keyaudit and bare loop showed that much more than
	// peers built days before. (The bare loop is this program: its own
	// pages are mapped here, so it gets a copy.)
	b.bareBin = b.self
	for _, p := range []*string{&b.keyaudit, &b.bareBin, &b.zgrab2, &b.tlsx} {
		if *p == "" {
			continue
		}
		if *p, err = install(*p, filepath.Join(b.work, "bin")); err != nil {
			return err
		}
	}
	pki := *pkiDir
	if pki == "" {
		pki = b.work
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer b.stopFarms()

	loadBefore := loadAvg()
	isolation := netIsolation()
	fmt.Fprintf(os.Stderr, "bench: network: %s\n", isolation)

	// The farm: N live endpoints plus the tarpits of the tarpit run, then
	// the extra endpoints of the growth run in processes of their own.
	tarpits := *n * *tarpitPct / 100
	t0 := time.Now()
	mainFarm, err := b.startFarm(ctx, 0, *n, tarpits, pki)
	if err != nil {
		return err
	}
	var growthLists []string
	var extra []<-chan farmReady
	for off := *n; off < *n**growth; off += growthChunk {
		cnt := min(growthChunk, *n**growth-off)
		out := filepath.Join(b.work, fmt.Sprintf("growth-%d.txt", off))
		growthLists = append(growthLists, out)
		extra = append(extra, b.spawnFarm(ctx, off, cnt, 0, pki, out, ""))
	}
	for _, ch := range extra {
		if r := <-ch; r.err != nil {
			return r.err
		}
	}
	fmt.Fprintf(os.Stderr, "bench: farm of %d endpoints (+%d tarpits, +%d for the growth run) ready in %.1f s\n",
		*n, tarpits, *n*(*growth-1), time.Since(t0).Seconds())

	targets := filepath.Join(b.work, "targets.txt")
	live, err := readTargets(targets)
	if err != nil {
		return err
	}
	zcsv, err := b.zgrabInput("targets", live)
	if err != nil {
		return err
	}

	// Warm both sides (page faults, goroutine stacks, the farm's caches).
	if _, err := b.bare(ctx, targets, *conc, len(live), "warm-up", 0, *timeout); err != nil {
		return err
	}

	type config struct {
		tool string
		conc int
	}
	configs := []config{{"keyaudit", *conc}, {"bare", *conc}}
	if b.zgrab2 != "" {
		configs = append(configs, config{"zgrab2", *conc})
	}
	if b.tlsx != "" {
		configs = append(configs, config{"tlsx", *conc})
	}
	if *concHigh > 0 {
		configs = append(configs, config{"keyaudit", *concHigh}, config{"bare", *concHigh})
	}
	var samples []sample
	for r := 1; r <= *rounds; r++ {
		for _, c := range configs {
			var s sample
			var err error
			switch c.tool {
			case "keyaudit":
				s, err = b.keyauditRun(ctx, targets, c.conc, len(live), "main", r, *timeout)
			case "bare":
				s, err = b.bare(ctx, targets, c.conc, len(live), "main", r, *timeout)
			case "zgrab2":
				s, err = b.zgrabRun(ctx, zcsv, len(live), c.conc, r)
			case "tlsx":
				s, err = b.tlsxRun(ctx, targets, len(live), c.conc, r)
			}
			if err != nil {
				return err
			}
			samples = append(samples, s)
		}
	}

	if *growth > 1 {
		big := filepath.Join(b.work, "growth.txt")
		if err := concatFiles(big, append([]string{targets}, growthLists...)); err != nil {
			return err
		}
		s, err := b.keyauditRun(ctx, big, *conc, *n**growth, "growth", 1, *timeout)
		if err != nil {
			return err
		}
		samples = append(samples, s)
	}

	if *tarpitPct > 0 && tarpits > 0 {
		// The tarpit mix, and as a control the same live endpoints
		// without the tarpits at the same concurrency and timeout: on a
		// saturated farm a short timeout loses live endpoints by itself.
		mix, control, liveN, err := b.tarpitLists(targets, *n, *tarpitPct)
		if err != nil {
			return err
		}
		tc := *concHigh
		if tc == 0 {
			tc = *conc
		}
		for r := 1; r <= min(*rounds, tarpitRounds); r++ {
			for _, run := range []struct{ tool, list, kind string }{
				{"keyaudit", mix, "tarpit"}, {"bare", mix, "tarpit"},
				{"keyaudit", control, "tarpit-control"}, {"bare", control, "tarpit-control"},
			} {
				var s sample
				var err error
				if run.tool == "keyaudit" {
					s, err = b.keyauditRun(ctx, run.list, tc, liveN, run.kind, r, *tarpitTimeout)
				} else {
					s, err = b.bare(ctx, run.list, tc, liveN, run.kind, r, *tarpitTimeout)
				}
				if err != nil {
					return err
				}
				samples = append(samples, s)
			}
		}
	}

	if *jsonOut != "" {
		j, _ := json.MarshalIndent(map[string]any{"farm": mainFarm, "network": isolation, "samples": samples}, "", "  ")
		if err := os.WriteFile(*jsonOut, append(j, '\n'), 0o644); err != nil {
			return err
		}
	}
	report(os.Stdout, reportInput{
		n: *n, rounds: *rounds, conc: *conc, concHigh: *concHigh, growth: *growth,
		tarpitPct: *tarpitPct, tarpitTimeout: *tarpitTimeout, timeout: *timeout,
		farm: mainFarm, network: isolation, samples: samples, loadBefore: loadBefore,
		keyauditLabel: *label,
	})
	return nil
}

// netIsolation says whether this process sees only the loopback
// interface (a network namespace of its own, as `make bench` runs it).
func netIsolation() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	if len(names) == 1 && names[0] == "lo" {
		return "isolated network namespace (lo only)"
	}
	return "NOT isolated: interfaces " + strings.Join(names, ", ") + " (targets are still loopback only)"
}

type farmReady struct {
	sum farmSummary
	err error
}

// spawnFarm starts a farm process; its channel says when it serves.
func (b *bench) spawnFarm(ctx context.Context, offset, n, tarpits int, pki, out, tarpitOut string) <-chan farmReady {
	ch := make(chan farmReady, 1)
	args := []string{"farm", "-offset", strconv.Itoa(offset), "-endpoints", strconv.Itoa(n),
		"-tarpits", strconv.Itoa(tarpits), "-pki", pki, "-out", out}
	if tarpitOut != "" {
		args = append(args, "-tarpit-out", tarpitOut)
	}
	cmd := exec.Command(b.self, args...)
	cmd.Stderr = os.Stderr
	// A farm outlives nothing: if this process dies, the farm stops too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		ch <- farmReady{err: fmt.Errorf("farm: %w", err)}
		return ch
	}
	b.farms = append(b.farms, cmd)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
		if err != nil || !ok {
			ch <- farmReady{err: fmt.Errorf("farm (offset %d) did not start: %q %v", offset, line, err)}
			return
		}
		var s farmSummary
		err = json.Unmarshal([]byte(rest), &s)
		ch <- farmReady{sum: s, err: err}
	}()
	go func() {
		<-ctx.Done()
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}()
	return ch
}

func (b *bench) startFarm(ctx context.Context, offset, n, tarpits int, pki string) (farmSummary, error) {
	r := <-b.spawnFarm(ctx, offset, n, tarpits, pki,
		filepath.Join(b.work, "targets.txt"), filepath.Join(b.work, "tarpits.txt"))
	return r.sum, r.err
}

// stopFarms ends the farm processes this command started, by PID.
func (b *bench) stopFarms() {
	for _, c := range b.farms {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range b.farms {
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
	b.farms = nil
}

// farmCPU is the CPU time (user+sys) the farm processes have used.
func (b *bench) farmCPU() float64 {
	var total float64
	for _, c := range b.farms {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses.
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		total += (ut + st) / 100 // USER_HZ is 100 on Linux
	}
	return total
}

// measured runs one tool to completion and fills in its wall time, CPU
// time, peak RSS and exit status (ok is the caller's to fill in).
func (b *bench) measured(ctx context.Context, s sample, stdout string, name string, args ...string) (sample, error) {
	b.runs++
	cmd := exec.CommandContext(ctx, name, args...)
	if stdout != "" {
		f, err := os.Create(stdout)
		if err != nil {
			return s, err
		}
		defer f.Close()
		cmd.Stdout = f
	}
	errPath := filepath.Join(b.work, fmt.Sprintf("run-%d.stderr", b.runs))
	ef, err := os.Create(errPath)
	if err != nil {
		return s, err
	}
	defer ef.Close()
	cmd.Stderr = ef
	cpu0 := b.farmCPU()
	start := time.Now()
	err = cmd.Start()
	if err == nil {
		stop := make(chan struct{})
		peak := make(chan float64)
		go func() { peak <- sampleAnon(cmd.Process.Pid, stop) }()
		err = cmd.Wait()
		close(stop)
		s.AnonMiB = <-peak
	}
	s.Wall = time.Since(start).Seconds()
	s.FarmCPU = b.farmCPU() - cpu0
	if ctx.Err() != nil {
		return s, ctx.Err()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return s, fmt.Errorf("%s: %w", name, err)
	}
	if st := cmd.ProcessState; st != nil {
		s.Exit = st.ExitCode()
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			s.User = float64(ru.Utime.Nano()) / 1e9
			s.Sys = float64(ru.Stime.Nano()) / 1e9
			s.RSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
		}
	}
	if s.Exit != 0 {
		tail, _ := os.ReadFile(errPath)
		if len(tail) > 600 {
			tail = tail[len(tail)-600:]
		}
		s.Note = strings.TrimSpace(string(tail))
	}
	return s, nil
}

// sampleAnon returns the largest RssAnon of process pid, in MiB, read
// every 10 ms until stop is closed.
func sampleAnon(pid int, stop <-chan struct{}) float64 {
	path := fmt.Sprintf("/proc/%d/status", pid)
	var peak float64
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
					kib, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
					peak = max(peak, kib/1024)
				}
			}
		}
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

func (b *bench) progress(s sample) {
	fmt.Fprintf(b.log, "bench: %-8s %-6s c=%-4d round %d: %5.1f s  %6.0f endpoints/s  cpu %6.2f s  rss %6.1f MiB (anon %5.1f)  ok %d/%d  farm cpu %.1f s  exit %d\n",
		s.Tool, s.Kind, s.Conc, s.Round, s.Wall, s.rate(), s.cpu(), s.RSSMiB, s.AnonMiB, s.OK, s.Targets, s.FarmCPU, s.Exit)
	if s.Note != "" && s.OK == 0 {
		fmt.Fprintf(b.log, "bench: %s stderr: %s\n", s.Tool, s.Note)
	}
}

func (b *bench) bare(ctx context.Context, targets string, conc, live int, kind string, round int, timeout time.Duration) (sample, error) {
	out := filepath.Join(b.work, "bare.json")
	s := sample{Tool: "bare", Conc: conc, Kind: kind, Round: round, Live: live}
	s, err := b.measured(ctx, s, out, b.bareBin, "bare", "-targets", targets, "-c", strconv.Itoa(conc), "-timeout", timeout.String())
	if err != nil {
		return s, err
	}
	raw, _ := os.ReadFile(out)
	var r bareResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return s, fmt.Errorf("bare: %v (%s)", err, s.Note)
	}
	s.Targets, s.OK = r.Targets, int(r.OK)
	b.progress(s)
	return s, nil
}

func (b *bench) keyauditRun(ctx context.Context, targets string, conc, live int, kind string, round int, timeout time.Duration) (sample, error) {
	out := filepath.Join(b.work, "keyaudit.jsonl")
	store := filepath.Join(b.work, fmt.Sprintf("keyaudit-%d.db", b.runs+1))
	defer func() {
		for _, suf := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(store + suf)
		}
	}()
	n, err := countLines(targets)
	if err != nil {
		return sample{}, err
	}
	s := sample{Tool: "keyaudit", Conc: conc, Kind: kind, Round: round, Targets: n, Live: live}
	s, err = b.measured(ctx, s, out, b.keyaudit, "scan",
		"--targets-file", targets, "--concurrency", strconv.Itoa(conc), "--timeout", timeout.String(),
		"--format", "jsonl", "--store", store, "--scope", "127.0.0.0/8", "--resolver", "127.0.0.1:53")
	if err != nil {
		return s, err
	}
	s.OK, err = countJSONLines(out, func(raw []byte) bool {
		var o struct {
			Chain []json.RawMessage `json:"chain"`
			Error json.RawMessage   `json:"error"`
		}
		return json.Unmarshal(raw, &o) == nil && len(o.Chain) > 0 && (len(o.Error) == 0 || string(o.Error) == "null")
	})
	b.progress(s)
	return s, err
}

// zgrabInput writes targets as zgrab2's CSV input: IP, DOMAIN, TAG, PORT.
func (b *bench) zgrabInput(name string, targets []string) (string, error) {
	var sb strings.Builder
	for _, t := range targets {
		ap, err := netip.ParseAddrPort(t)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, "%s,,,%d\n", ap.Addr(), ap.Port())
	}
	p := filepath.Join(b.work, name+".zgrab2.csv")
	return p, os.WriteFile(p, []byte(sb.String()), 0o644)
}

// zgrabBlocklist is every IPv4 and IPv6 address but 127.0.0.0/8: zgrab2
// refuses to contact anything else (its default blocklist is the
// reverse, and blocks loopback).
const zgrabBlocklist = `0.0.0.0/2
64.0.0.0/3
96.0.0.0/4
112.0.0.0/5
120.0.0.0/6
124.0.0.0/7
126.0.0.0/8
128.0.0.0/1
::/0
`

func (b *bench) zgrabRun(ctx context.Context, csv string, n, conc, round int) (sample, error) {
	bl := filepath.Join(b.work, "zgrab2-blocklist.conf")
	if err := os.WriteFile(bl, []byte(zgrabBlocklist), 0o644); err != nil {
		return sample{}, err
	}
	out := filepath.Join(b.work, "zgrab2.json")
	s := sample{Tool: "zgrab2", Conc: conc, Kind: "main", Round: round, Targets: n, Live: n}
	s, err := b.measured(ctx, s, "", b.zgrab2,
		"--input-file", csv, "--output-file", out, "--metadata-file", filepath.Join(b.work, "zgrab2-meta.json"),
		"--log-file", filepath.Join(b.work, "zgrab2.log"), "--status-updates-file", os.DevNull,
		"--blocklist-file", bl, "--senders", strconv.Itoa(conc),
		"tls", "--connect-timeout", b.timeout.String(), "--target-timeout", b.timeout.String())
	if err != nil {
		return s, err
	}
	s.OK, err = countJSONLines(out, func(raw []byte) bool {
		var o struct {
			Data struct {
				TLS struct {
					Status string `json:"status"`
				} `json:"tls"`
			} `json:"data"`
		}
		return json.Unmarshal(raw, &o) == nil && o.Data.TLS.Status == "success"
	})
	b.progress(s)
	return s, err
}

func (b *bench) tlsxRun(ctx context.Context, targets string, n, conc, round int) (sample, error) {
	out := filepath.Join(b.work, "tlsx.json")
	s := sample{Tool: "tlsx", Conc: conc, Kind: "main", Round: round, Targets: n, Live: n}
	s, err := b.measured(ctx, s, out, b.tlsx,
		"-l", targets, "-c", strconv.Itoa(conc), "-silent", "-json", "-tls-chain",
		"-timeout", strconv.Itoa(int(b.timeout.Seconds())), "-disable-update-check")
	if err != nil {
		return s, err
	}
	s.OK, err = countJSONLines(out, func(raw []byte) bool {
		var o struct {
			TLSVersion  string `json:"tls_version"`
			ProbeStatus bool   `json:"probe_status"`
			Error       string `json:"error"`
		}
		return json.Unmarshal(raw, &o) == nil && o.TLSVersion != "" && o.Error == ""
	})
	b.progress(s)
	return s, err
}

// tarpitLists writes n targets of which pct percent (spread evenly) are
// tarpits and the rest live endpoints, and the control: the same live
// endpoints alone. It returns both paths and the number of live targets.
func (b *bench) tarpitLists(liveFile string, n, pct int) (mix, control string, live int, err error) {
	lives, err := readTargets(liveFile)
	if err != nil {
		return "", "", 0, err
	}
	tar, err := readTargets(filepath.Join(b.work, "tarpits.txt"))
	if err != nil {
		return "", "", 0, err
	}
	var lines, ctl []string
	ti := 0
	for i := range n {
		if (i+1)*pct/100 > i*pct/100 && ti < len(tar) {
			lines = append(lines, tar[ti])
			ti++
		} else if len(ctl) < len(lives) {
			lines = append(lines, lives[len(ctl)])
			ctl = append(ctl, lives[len(ctl)])
		}
	}
	mix = filepath.Join(b.work, "tarpit-mix.txt")
	control = filepath.Join(b.work, "tarpit-control.txt")
	if err := os.WriteFile(mix, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return "", "", 0, err
	}
	return mix, control, len(ctl), os.WriteFile(control, []byte(strings.Join(ctl, "\n")+"\n"), 0o644)
}

func concatFiles(dst string, srcs []string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	for _, s := range srcs {
		if _, err := readTargets(s); err != nil { // loopback check
			f.Close()
			return err
		}
		raw, err := os.ReadFile(s)
		if err != nil {
			f.Close()
			return err
		}
		if _, err := f.Write(raw); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func countLines(path string) (int, error) {
	t, err := readTargets(path)
	return len(t), err
}

// countJSONLines counts the lines of path for which ok is true.
func countJSONLines(path string, ok func([]byte) bool) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxOutputLine)
	n := 0
	for sc.Scan() {
		if ok(sc.Bytes()) {
			n++
		}
	}
	return n, sc.Err()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// install copies the program at src into dir (same base name), writes
// it to disk and drops its pages from the cache; it returns the copy's
// path.
func install(src, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	dst := filepath.Join(dir, filepath.Base(src))
	if si, err := os.Stat(src); err == nil {
		if di, err := os.Stat(dst); err == nil && os.SameFile(si, di) {
			return "", fmt.Errorf("install %s: the work folder's bin is where it already is (choose another -work)", src)
		}
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if err == nil {
		err = unix.Fadvise(int(out.Fd()), 0, 0, unix.FADV_DONTNEED)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("install %s: %w", src, err)
	}
	return dst, nil
}
