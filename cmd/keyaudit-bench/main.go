// Command keyaudit-bench measures keyaudit's scan against a loopback farm
// of TLS endpoints, next to a bare crypto/tls handshake loop and to peer
// scanners (zgrab2, tlsx) scanning the same farm. Each measured tool runs
// in its own process, so its CPU time and peak RSS belong to it alone.
//
//	keyaudit-bench farm -endpoints 2000 -out targets.txt    serve a farm until killed
//	keyaudit-bench bare -targets targets.txt -c 200         bare handshake loop
//	keyaudit-bench measure -targets targets.txt -c 200      the scanner package in-process (profiling)
//	keyaudit-bench run [-endpoints 2000 -rounds 3 ...]      the whole comparison (make bench)
//
// Every target must be a loopback address: each subcommand refuses
// anything else before it dials or listens.
package main

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

func main() {
	cmd, args := "run", os.Args[1:]
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "farm":
		err = farmCmd(args)
	case "bare":
		err = bareCmd(args)
	case "measure":
		err = measureCmd(args)
	case "run":
		err = runCmd(args)
	default:
		err = fmt.Errorf("unknown subcommand %q (farm, bare, measure, run)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyaudit-bench:", err)
		os.Exit(2)
	}
}

// maxTargetLine bounds one line of a targets file.
const maxTargetLine = 4096

// readTargets reads ip:port lines (blank lines and # comments skipped)
// and refuses any that is not a loopback address.
func readTargets(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, maxTargetLine), maxTargetLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := checkLoopback(line); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no targets", path)
	}
	return out, nil
}

// checkLoopback accepts only ip:port with a loopback IP (127.0.0.0/8,
// ::1): the benchmark must never send traffic off the machine.
func checkLoopback(target string) error {
	ap, err := netip.ParseAddrPort(target)
	if err != nil {
		return fmt.Errorf("target %q is not ip:port: %w", target, err)
	}
	if !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("refusing non-loopback target %q", target)
	}
	return nil
}
