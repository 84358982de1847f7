package testlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI, where a missing component
// is a failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need returns the path of binary name (looked up in PATH and in extra
// directories), or skips the test — fails it under CI — with a clear
// reason.
func Need(t testing.TB, name string, extra ...string) string {
	t.Helper()
	for _, d := range extra {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	Missing(t, fmt.Sprintf("%s not installed (bash .ci/run installs it)", name))
	return ""
}

// Missing skips t locally and fails it under CI.
func Missing(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("required test component missing: %s", why)
	}
	t.Skipf("skipping: %s", why)
}

// IsLoopback reports whether addr (an IP, or host:port with an IP host)
// is in 127.0.0.0/8 or ::1.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

// MustLoopback fails the test before any traffic is sent when addr is not
// a loopback address. Tests never talk to anything else.
func MustLoopback(t testing.TB, addr string) {
	t.Helper()
	if !IsLoopback(addr) {
		t.Fatalf("testlab: refusing non-loopback address %q: tests talk only to 127.0.0.0/8 and ::1", addr)
	}
}

// FreePort returns a TCP port free on ip (a loopback address).
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	MustLoopback(t, ip)
	for {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("testlab: free port on %s: %v", ip, err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// A port handed out before may not be bound yet by the process it
		// is for (servers start in the background): never hand it twice.
		handedMu.Lock()
		dup := handed[p]
		handed[p] = true
		handedMu.Unlock()
		if !dup {
			return p
		}
	}
}

var (
	handedMu sync.Mutex
	handed   = map[int]bool{}
)

// WaitTCP waits until addr accepts TCP connections or the timeout passes.
func WaitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	MustLoopback(t, addr)
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testlab: %s not accepting connections after %v: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartProcess starts a long-running server process for the test and
// stops it (SIGTERM, then SIGKILL) in cleanup. Its output goes to a log
// file in dir, printed when the test fails.
func StartProcess(t testing.TB, dir string, name string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	logPath := filepath.Join(dir, filepath.Base(name)+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("testlab: %v", err)
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 3 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("testlab: start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		lf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil && len(b) > 0 {
				t.Logf("%s output:\n%s", filepath.Base(name), tail(b, 4000))
			}
		}
	})
	return cmd
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
