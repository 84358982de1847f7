package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/keyaudit/keyaudit/scanner"
)

// measureCmd runs the scanner package in this process against a targets
// file, encoding every observation as `keyaudit scan --format jsonl`
// would, without the CLI and the store: the view to profile
// (-cpuprofile) when the CLI's numbers move.
func measureCmd(args []string) error {
	fs := flag.NewFlagSet("measure", flag.ExitOnError)
	targets := fs.String("targets", "", "file of ip:port lines (loopback only)")
	conc := fs.Int("c", 200, "concurrency")
	timeout := fs.Duration("timeout", 10*time.Second, "one deadline per endpoint")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the scan here")
	fs.Parse(args)
	if *targets == "" {
		return fmt.Errorf("measure: -targets FILE is required")
	}
	addrs, err := readTargets(*targets)
	if err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sc, err := scanner.New(scanner.Config{Timeout: *timeout, Concurrency: *conc, PerIP: *conc})
	if err != nil {
		return err
	}
	specs := func(yield func(scanner.Spec) bool) {
		for _, a := range addrs {
			sp, err := scanner.ParseSpec(a)
			if err != nil || !yield(sp) {
				return
			}
		}
	}
	var ok, failed int
	enc := json.NewEncoder(discard{})
	start := time.Now()
	if _, err := sc.Scan(ctx, specs, func(o scanner.Observation) error {
		if o.Error != nil {
			failed++
		} else {
			ok++
		}
		return enc.Encode(o)
	}); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(bareResult{Targets: len(addrs), OK: int64(ok), Failed: int64(failed), Seconds: time.Since(start).Seconds()})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
