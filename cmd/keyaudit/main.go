// Command keyaudit audits an organisation's cryptographic keys and
// certificates: what is deployed, what CT saw, and what the HSM/KMS
// inventory says exists.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := cpuProfile(os.Getenv("KEYAUDIT_CPUPROFILE"))
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stopProfile()
	memProfile(os.Getenv("KEYAUDIT_MEMPROFILE"))
	stop()
	os.Exit(code)
}

// cpuProfile writes a CPU profile of the whole command to path (the
// KEYAUDIT_CPUPROFILE environment variable, for performance reports;
// see docs/bench-scan.md); "" profiles nothing.
func cpuProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "keyaudit: warning: KEYAUDIT_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "keyaudit: warning: KEYAUDIT_CPUPROFILE: %v\n", err)
		}
	}
}

// memProfile writes the allocation profile of the whole command to path
// (the KEYAUDIT_MEMPROFILE environment variable, beside
// KEYAUDIT_CPUPROFILE); "" writes nothing.
func memProfile(path string) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "keyaudit: warning: KEYAUDIT_MEMPROFILE: %v\n", err)
	}
}

// Exit codes, everywhere.
const (
	exitOK       = 0 // ran, nothing at or above --fail-on
	exitFindings = 1 // ran, found something at or above --fail-on
	exitError    = 2 // could not run
)

// exitCodeError carries an exit code up to run without printing twice.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitCodeError) Unwrap() error { return e.err }

// withCode marks err with an exit code; a nil err with code 1 means
// "findings at or above --fail-on" and prints nothing.
func withCode(code int, err error) error { return &exitCodeError{code: code, err: err} }

// run is main without os.Exit, so tests drive the whole CLI in process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(&app{stdin: stdin, stdout: stdout, stderr: stderr})
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		if ec.err != nil {
			fmt.Fprintf(stderr, "keyaudit: %v\n", ec.err)
		}
		return ec.code
	}
	fmt.Fprintf(stderr, "keyaudit: %v\n", err)
	return exitError
}
