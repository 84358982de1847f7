// Command keyaudit-bench measures scan throughput against a loopback farm
// of TLS endpoints, next to a bare crypto/tls handshake loop against the
// same farm. Each measurement runs in its own process so peak RSS
// (VmHWM) belongs to that measurement alone.
//
//	keyaudit-bench [-endpoints 1024] [-conc 50,200,1000] [-growth 10]
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/scanner"
)

const farmBase = "127.20.0.0"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "farm":
			farm(os.Args[2:])
			return
		case "measure":
			measure(os.Args[2:])
			return
		}
	}
	orchestrate(os.Args[1:])
}

// farmAddrs yields n addresses from 127.20.0.0 upwards, port 443.
func farmAddrs(n int) []string {
	out := make([]string, 0, n)
	a := netip.MustParseAddr(farmBase)
	for range n {
		a = a.Next()
		out = append(out, netip.AddrPortFrom(a, 443).String())
	}
	return out
}

func farm(args []string) {
	fs := flag.NewFlagSet("farm", flag.ExitOnError)
	n := fs.Int("endpoints", 1024, "TLS listeners")
	fs.Parse(args)
	root, err := estate.NewRoot("bench root", estate.ECDSA256)
	check(err)
	cert, err := root.Issue(estate.Leaf{CN: "farm.example.test", Key: estate.ECDSA256})
	check(err)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	var servers []*estate.Server
	for _, a := range farmAddrs(*n) {
		s, err := estate.ServeTLS(a, cfg)
		check(err)
		servers = append(servers, s)
	}
	fmt.Println("ready")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	for _, s := range servers {
		s.Close()
	}
}

type result struct {
	Mode        string  `json:"mode"`
	Concurrency int     `json:"concurrency"`
	Endpoints   int     `json:"endpoints"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"endpoints_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	PeakRSSMB   float64 `json:"peak_rss_mb"`
	// CPUms is the client's CPU time (user+sys) per endpoint: steadier
	// than wall-clock rates on a shared machine.
	CPUms float64 `json:"cpu_ms_per_endpoint"`
}

func measure(args []string) {
	fs := flag.NewFlagSet("measure", flag.ExitOnError)
	mode := fs.String("mode", "scan", "scan (keyaudit scanner, recording everything) or bare (crypto/tls handshakes)")
	n := fs.Int("endpoints", 1024, "farm size")
	reps := fs.Int("reps", 1, "times each endpoint is scanned (target growth)")
	conc := fs.Int("conc", 200, "concurrency")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the measurement here")
	fs.Parse(args)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	addrs := farmAddrs(*n)
	var lat []float64
	var mu sync.Mutex
	errs := 0
	total := *n * *reps
	start := time.Now()
	switch *mode {
	case "scan":
		sc, err := scanner.New(scanner.Config{Timeout: 10 * time.Second, Concurrency: *conc, PerIP: *conc})
		check(err)
		specs := func(yield func(scanner.Spec) bool) {
			for range *reps {
				for _, a := range addrs {
					sp, _ := scanner.ParseSpec(a)
					if !yield(sp) {
						return
					}
				}
			}
		}
		enc := json.NewEncoder(discard{})
		_, err = sc.Scan(context.Background(), specs, func(o scanner.Observation) error {
			// Record everything: the full observation is encoded, as
			// `keyaudit scan --format jsonl` would.
			if o.Error != nil {
				errs++
			}
			lat = append(lat, o.DurationMS)
			return enc.Encode(o)
		})
		check(err)
	case "bare":
		work := make(chan string, *conc)
		var wg sync.WaitGroup
		for range *conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := &net.Dialer{Timeout: 10 * time.Second}
				for a := range work {
					t0 := time.Now()
					c, err := tls.DialWithDialer(d, "tcp", a, &tls.Config{InsecureSkipVerify: true})
					ms := float64(time.Since(t0).Microseconds()) / 1000
					mu.Lock()
					if err != nil {
						errs++
					} else {
						c.Close()
					}
					lat = append(lat, ms)
					mu.Unlock()
				}
			}()
		}
		for range *reps {
			for _, a := range addrs {
				work <- a
			}
		}
		close(work)
		wg.Wait()
	}
	el := time.Since(start).Seconds()
	slices.Sort(lat)
	r := result{Mode: *mode, Concurrency: *conc, Endpoints: total, Errors: errs, Seconds: el,
		PerSecond: float64(total) / el, P50ms: pct(lat, 0.50), P99ms: pct(lat, 0.99), PeakRSSMB: peakRSS(), CPUms: cpuMS() / float64(total)}
	check(json.NewEncoder(os.Stdout).Encode(r))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func pct(s []float64, p float64) float64 {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// cpuMS is this process's user+sys CPU time in milliseconds.
func cpuMS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

// peakRSS is VmHWM from /proc/self/status, in MiB.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func orchestrate(args []string) {
	fs := flag.NewFlagSet("keyaudit-bench", flag.ExitOnError)
	n := fs.Int("endpoints", 1024, "TLS endpoints in the farm")
	concs := fs.String("conc", "50,200,1000", "concurrency levels")
	growth := fs.Int("growth", 10, "target growth factor for the RSS check")
	fs.Parse(args)
	self, err := os.Executable()
	check(err)
	fcmd := exec.Command(self, "farm", "-endpoints", strconv.Itoa(*n))
	out, err := fcmd.StdoutPipe()
	check(err)
	fcmd.Stderr = os.Stderr
	check(fcmd.Start())
	defer func() { fcmd.Process.Signal(os.Interrupt); fcmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		check(fmt.Errorf("farm did not start: %q %v", line, err))
	}
	run := func(mode string, conc, reps int) result {
		cmd := exec.Command(self, "measure", "-mode", mode, "-endpoints", strconv.Itoa(*n), "-conc", strconv.Itoa(conc), "-reps", strconv.Itoa(reps))
		cmd.Stderr = os.Stderr
		b, err := cmd.Output()
		check(err)
		var r result
		check(json.Unmarshal(b, &r))
		return r
	}
	fmt.Printf("farm: %d TLS endpoints (ECDSA P-256, Go crypto/tls servers) on %s+, 2 cores shared by farm and client\n\n", *n, farmBase)
	fmt.Println("| concurrency | mode | endpoints | errors | endpoints/s | p50 ms | p99 ms | client CPU ms/endpoint | peak RSS MiB | scan/bare rate |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, cs := range strings.Split(*concs, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(cs))
		check(err)
		run("bare", c, 1) // warm both sides
		bare := run("bare", c, 1)
		scan := run("scan", c, 1)
		for _, r := range []result{bare, scan} {
			ratio := ""
			if r.Mode == "scan" {
				ratio = fmt.Sprintf("%.0f%%", 100*scan.PerSecond/bare.PerSecond)
			}
			fmt.Printf("| %d | %s | %d | %d | %.0f | %.1f | %.1f | %.2f | %.1f | %s |\n", r.Concurrency, r.Mode, r.Endpoints, r.Errors, r.PerSecond, r.P50ms, r.P99ms, r.CPUms, r.PeakRSSMB, ratio)
		}
	}
	c := 200
	small := run("scan", c, 1)
	big := run("scan", c, *growth)
	fmt.Printf("\nRSS vs targets at concurrency %d: %d endpoints → %.1f MiB; %d endpoints → %.1f MiB\n", c, small.Endpoints, small.PeakRSSMB, big.Endpoints, big.PeakRSSMB)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyaudit-bench:", err)
		os.Exit(2)
	}
}
