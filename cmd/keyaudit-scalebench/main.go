// Command keyaudit-scalebench measures keyaudit at scale on loopback: a
// /16-sized target space (65,536 endpoints on 127.30.0.0/16, one port),
// most closed, a share serving TLS, scanned by the real keyaudit binary
// into a PostgreSQL store — by one process and by two shard processes of
// one run group — then the same scan over growing target spaces (up to
// 262,144 endpoints) to show peak RSS stays flat. It also measures the store's bare write rate.
//
//	keyaudit-scalebench -keyaudit bin/keyaudit -store postgres://…
//
// scripts/bench-scale.sh builds everything, starts a throwaway PostgreSQL
// and runs it. Loopback only: the target space is refused unless it lies
// in 127.0.0.0/8.
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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/postgres"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "farm":
			farm(os.Args[2:])
			return
		case "freeport":
			// For the script: a free TCP port on 127.0.0.1.
			l, err := net.Listen("tcp", "127.0.0.1:0")
			check(err)
			fmt.Println(l.Addr().(*net.TCPAddr).Port)
			l.Close()
			return
		}
	}
	orchestrate(os.Args[1:])
}

// farmAddrs are the TLS addresses: every every-th address of prefix,
// starting at its first host (.1).
func farmAddrs(prefix netip.Prefix, port, every int) []string {
	var out []string
	a := prefix.Addr().Next()
	for i := 0; prefix.Contains(a); i++ {
		if i%every == 0 {
			out = append(out, netip.AddrPortFrom(a, uint16(port)).String())
		}
		a = a.Next()
	}
	return out
}

func mustLoopback(p netip.Prefix) {
	if !p.Addr().Is4() || !netip.MustParsePrefix("127.0.0.0/8").Contains(p.Addr()) || p.Bits() < 8 {
		check(fmt.Errorf("refusing target space %s: loopback (inside 127.0.0.0/8) only", p))
	}
}

// farm serves TLS on its addresses, one key and certificate each, until
// interrupted.
func farm(args []string) {
	fs := flag.NewFlagSet("farm", flag.ExitOnError)
	cidr := fs.String("cidr", "127.30.0.0/16", "target space")
	port := fs.Int("port", 4433, "port")
	every := fs.Int("every", 64, "one address in this many serves TLS")
	fs.Parse(args)
	prefix := netip.MustParsePrefix(*cidr)
	mustLoopback(prefix)
	root, err := estate.NewRoot("scale bench root", estate.ECDSA256)
	check(err)
	var servers []*estate.Server
	for i, a := range farmAddrs(prefix, *port, *every) {
		cert, err := root.Issue(estate.Leaf{CN: fmt.Sprintf("e%d.scale.test", i), Key: estate.ECDSA256})
		check(err)
		s, err := estate.ServeTLS(a, &tls.Config{Certificates: []tls.Certificate{cert}})
		check(err)
		servers = append(servers, s)
	}
	fmt.Println("ready", len(servers))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	for _, s := range servers {
		s.Close()
	}
}

// proc is one measured keyaudit process.
type proc struct {
	Seconds   float64 `json:"seconds"`
	PeakRSSMB float64 `json:"peak_rss_mib"` // getrusage ru_maxrss: the child's VmHWM
	CPUs      float64 `json:"cpu_s"`
}

type scanResult struct {
	Target       string  `json:"target"`
	Shards       int     `json:"shards"`
	Endpoints    int64   `json:"endpoints"`
	WithChain    int64   `json:"with_chain"`
	Items        int64   `json:"items_written"`
	Seconds      float64 `json:"wall_s"`
	PerSecond    float64 `json:"endpoints_per_s"`
	ItemsPerSec  float64 `json:"store_items_per_s"`
	PeakRSSMB    float64 `json:"peak_rss_mib_max"`
	CPUPerEndpUS float64 `json:"client_cpu_us_per_endpoint"`
	Procs        []proc  `json:"procs"`
}

func orchestrate(args []string) {
	fs := flag.NewFlagSet("keyaudit-scalebench", flag.ExitOnError)
	bin := fs.String("keyaudit", "bin/keyaudit", "keyaudit binary to measure")
	dsn := fs.String("store", "", "PostgreSQL store URL (required)")
	cidr := fs.String("cidr", "127.30.0.0/16", "target space (loopback)")
	port := fs.Int("port", 4433, "the one port scanned")
	every := fs.Int("every", 64, "one address in this many serves TLS")
	conc := fs.Int("concurrency", 256, "keyaudit scan --concurrency per process")
	growth := fs.String("growth", "/18,/17,/16,/14", "prefix lengths of the RSS-growth scans (ranges around -cidr's start; beyond -cidr every port is closed)")
	writeN := fs.Int("write-items", 65536, "items for the bare store write measurement")
	fs.Parse(args)
	if *dsn == "" {
		check(fmt.Errorf("-store postgres://… is required"))
	}
	prefix := netip.MustParsePrefix(*cidr)
	mustLoopback(prefix)
	ctx := context.Background()
	st, err := postgres.Open(ctx, *dsn)
	check(err)
	defer st.Close()

	self, err := os.Executable()
	check(err)
	fcmd := exec.Command(self, "farm", "-cidr", *cidr, "-port", strconv.Itoa(*port), "-every", strconv.Itoa(*every))
	out, err := fcmd.StdoutPipe()
	check(err)
	fcmd.Stderr = os.Stderr
	check(fcmd.Start())
	defer func() { fcmd.Process.Signal(os.Interrupt); fcmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		check(fmt.Errorf("farm did not start: %q %v", line, err))
	}
	nTLS, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))

	fmt.Printf("machine: %d cores, load average at start %s\n", runtime.NumCPU(), loadavg())
	fmt.Printf("farm: %s port %d, %d TLS endpoints (every %dth address, ECDSA P-256, distinct keys), the rest closed\n", prefix, *port, nTLS, *every)
	fmt.Printf("keyaudit scan --concurrency %d --timeout 3s --format jsonl >/dev/null, store %s\n\n", *conc, postgres.Redact(*dsn))

	// 1. The store alone.
	fmt.Println("Store write rate (store.Batcher, 256 items per transaction, ~700-byte observation items):")
	fmt.Println()
	fmt.Println("| writers | items | seconds | items/s |")
	fmt.Println("|---:|---:|---:|---:|")
	for _, w := range []int{1, 2} {
		sec := writeBench(ctx, st, w, *writeN)
		fmt.Printf("| %d | %d | %.2f | %.0f |\n", w, *writeN, sec, float64(*writeN)/sec)
	}
	fmt.Println()

	// 2. The whole target space, by one process and by two shards.
	scan := func(p netip.Prefix, shards int) scanResult {
		group := fmt.Sprintf("scalebench-%s-%d-%d", strings.ReplaceAll(p.String(), "/", "_"), shards, time.Now().UnixNano())
		res := scanResult{Target: p.String(), Shards: shards}
		procs := make([]proc, shards)
		errs := make([]error, shards)
		start := time.Now()
		var wg sync.WaitGroup
		for i := range shards {
			wg.Add(1)
			go func() {
				defer wg.Done()
				args := []string{"--store", *dsn, "scan", "--run-group", group, "--ports", strconv.Itoa(*port),
					"--timeout", "3s", "--concurrency", strconv.Itoa(*conc), "--per-ip", "8", "--format", "jsonl"}
				if shards > 1 {
					args = append(args, "--shard", fmt.Sprintf("%d/%d", i+1, shards))
				}
				procs[i], errs[i] = measure(*bin, append(args, p.String())...)
			}()
		}
		wg.Wait()
		res.Seconds = time.Since(start).Seconds()
		for _, err := range errs {
			check(err)
		}
		res.Procs = procs
		var cpu float64
		for _, pr := range procs {
			res.PeakRSSMB = max(res.PeakRSSMB, pr.PeakRSSMB)
			cpu += pr.CPUs
		}
		done := []store.RunStatus{store.StatusComplete}
		res.Endpoints, err = store.GroupCount(ctx, st, "scan", group, store.KindObservation, done...)
		check(err)
		certs, err := store.GroupCount(ctx, st, "scan", group, store.KindCertificate, done...)
		check(err)
		res.Items = res.Endpoints + certs
		check(store.GroupItems(ctx, st, "scan", group, store.KindObservation, done, func(_ store.Run, it store.Item) error {
			if it.SPKISHA256 != "" {
				res.WithChain++
			}
			return nil
		}))
		res.PerSecond = float64(res.Endpoints) / res.Seconds
		res.ItemsPerSec = float64(res.Items) / res.Seconds
		res.CPUPerEndpUS = cpu / float64(res.Endpoints) * 1e6
		return res
	}
	fmt.Println("Scan into PostgreSQL (one run group; wall time covers process start to the last commit):")
	fmt.Println()
	fmt.Println("| target space | shards | endpoints recorded | with a chain | wall s | endpoints/s | store items/s | peak RSS MiB (per process) | client CPU µs/endpoint |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	var all []scanResult
	for _, shards := range []int{1, 2} {
		r := scan(prefix, shards)
		all = append(all, r)
		rss := make([]string, len(r.Procs))
		for i, p := range r.Procs {
			rss[i] = fmt.Sprintf("%.1f", p.PeakRSSMB)
		}
		fmt.Printf("| %s | %d | %d | %d | %.1f | %.0f | %.0f | %s | %.0f |\n", r.Target, r.Shards, r.Endpoints, r.WithChain, r.Seconds, r.PerSecond, r.ItemsPerSec, strings.Join(rss, " / "), r.CPUPerEndpUS)
		if want := int64(1) << (32 - prefix.Bits()); r.Endpoints != want || r.WithChain != int64(nTLS) {
			fmt.Printf("  WARNING: expected %d endpoints and %d chains\n", want, nTLS)
		}
	}
	fmt.Println()

	// 3. Peak RSS as the target space grows.
	fmt.Println("Peak RSS as the target space grows (one process):")
	fmt.Println()
	fmt.Println("| target space | endpoints | wall s | endpoints/s | peak RSS MiB |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, g := range strings.Split(*growth, ",") {
		bits, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(g), "/"))
		check(err)
		// Wider than -cidr is allowed: the farm stays in -cidr, the rest
		// of the range is closed ports.
		p := netip.PrefixFrom(prefix.Addr(), bits).Masked()
		mustLoopback(p)
		var r scanResult
		if bits == prefix.Bits() {
			r = all[0]
		} else {
			r = scan(p, 1)
			all = append(all, r)
		}
		fmt.Printf("| %s | %d | %.1f | %.0f | %.1f |\n", r.Target, r.Endpoints, r.Seconds, r.PerSecond, r.PeakRSSMB)
	}
	fmt.Printf("\nload average at end %s\n", loadavg())
	if f := os.Getenv("SCALEBENCH_JSON"); f != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		check(os.WriteFile(f, b, 0o644))
	}
}

// measure runs keyaudit with stdout to /dev/null and returns its wall
// time, peak RSS and CPU.
func measure(bin string, args ...string) (proc, error) {
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return proc{}, fmt.Errorf("%s %s: %v\n%s", bin, strings.Join(redactArgs(args), " "), err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return proc{
		Seconds:   time.Since(start).Seconds(),
		PeakRSSMB: float64(ru.Maxrss) / 1024,
		CPUs:      float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9,
	}, nil
}

func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if i > 0 && args[i-1] == "--store" {
			out[i] = postgres.Redact(a)
		}
	}
	return out
}

// writeBench writes n observation-sized items through writers Batchers
// at once, each into its own run, and returns the seconds taken.
func writeBench(ctx context.Context, st store.Store, writers, n int) float64 {
	data := json.RawMessage(`{"target":"127.30.12.34:4433","host":"127.30.12.34","ip":"127.30.12.34","port":4433,"sni":"","protocol":"tls","tls_version":"TLS 1.3","cipher_suite":"TLS_AES_128_GCM_SHA256","group":"X25519MLKEM768","time":"2026-11-25T10:00:00Z","chain":[{"sha256":"4f1e0cbb1e3f7f8e2c5b7a4e7d9a0c1b2d3e4f5061728394a5b6c7d8e9f00112","spki_sha256":"9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9","subject":"CN=e1.scale.test","issuer":"CN=scale bench root","serial":"1234567890","sans":["e1.scale.test"],"not_before":"2026-11-25T00:00:00Z","not_after":"2027-11-25T00:00:00Z","key_type":"ECDSA","key_bits":256,"curve":"P-256","signature_algorithm":"ECDSA-SHA256","self_signed":false}],"ocsp_stapled":false,"scts":0,"error":null}`)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := st.BeginRun(ctx, store.RunSpec{Kind: "bench-write", Group: fmt.Sprintf("scalebench-write-%d", start.UnixNano())})
			check(err)
			b := store.NewBatcher(ctx, st, r.ID, 256, time.Second)
			for i := w; i < n; i += writers {
				check(b.Add(store.Item{Kind: store.KindObservation, Key: fmt.Sprintf("tls|127.30.%d.%d:4433|", i>>8, i&255),
					SPKISHA256: fmt.Sprintf("%064x", i), CertSHA256: fmt.Sprintf("%064x", i+1), Data: data}))
			}
			check(b.Flush())
			check(st.FinishRun(ctx, r.ID, store.StatusComplete, ""))
		}()
	}
	wg.Wait()
	return time.Since(start).Seconds()
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyaudit-scalebench:", err)
		os.Exit(2)
	}
}
