//go:build linux

package stage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/scanner"
)

// openPTY opens a pseudo-terminal 100 columns wide: stderr is its
// terminal side; everything written there is collected from its
// controller side and returned by the func once stderr is closed.
func openPTY(t *testing.T) (stderr *os.File, output func() string) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pts: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatalf("winsize: %v", err)
	}
	var buf bytes.Buffer
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			mu.Lock()
			buf.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { ptm.Close(); pts.Close() })
	return pts, func() string {
		pts.Close()
		// The controller side reads EIO once the terminal side is closed
		// and drained.
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			ptm.Close()
			<-done
		}
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

// refusedTargets returns n loopback endpoints nothing listens on.
func refusedTargets(t *testing.T, n int) iter.Seq[scanner.Spec] {
	t.Helper()
	var specs []scanner.Spec
	seen := map[int]bool{} // the kernel may hand a closed port out again: the scanner would count it once
	for len(specs) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if seen[port] {
			continue
		}
		seen[port] = true
		specs = append(specs, scanner.Spec{Raw: fmt.Sprint("127.0.0.1:", port), Addr: netip.MustParseAddr("127.0.0.1"), Port: port})
	}
	return func(yield func(scanner.Spec) bool) {
		for _, s := range specs {
			if !yield(s) {
				return
			}
		}
	}
}

func scanParams(t *testing.T, n int) ScanParams {
	return ScanParams{Targets: refusedTargets(t, n), Config: scanner.Config{Timeout: 2 * time.Second, Concurrency: 4, Protocol: "tls"}}
}

// TestScanProgressOnTTY: on a terminal the scan draws endpoints done of
// total, a rate and an ETA; on a pipe it writes nothing at all.
func TestScanProgressOnTTY(t *testing.T) {
	tty, output := openPTY(t)
	n := 0
	_, err := Scan(context.Background(), Env{Stderr: tty, Progress: true}, scanParams(t, 12), func(scanner.Observation) error { n++; return nil })
	if err != nil || n != 12 {
		t.Fatalf("scan: %d observations, %v", n, err)
	}
	out := output()
	for _, want := range []string{"scan ", "12/12 endpoints", "/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q: %q", want, out)
		}
	}

	// Not a terminal: silent, even with Progress asked for.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := Scan(context.Background(), Env{Stderr: w, Progress: true}, scanParams(t, 3), nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if b, _ := io.ReadAll(r); len(b) != 0 {
		t.Errorf("progress written to a pipe: %q", b)
	}
}

// TestScanProgressETA: the bar shows an ETA once every target is
// expanded and endpoints are still in flight.
func TestScanProgressETA(t *testing.T) {
	tty, output := openPTY(t)
	b := newScanBar(Env{Stderr: tty, Progress: true})
	if b == nil {
		t.Fatal("no bar on a terminal")
	}
	b.queued(1, false)
	b.queued(40, true)
	for range 10 {
		b.done()
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(3 * progressRefresh)
	b.close()
	out := output()
	if !strings.Contains(out, "10/40 endpoints") || !strings.Contains(out, "ETA ") {
		t.Errorf("no ETA: %q", out)
	}
}

type slowSource struct {
	name string
	keys int
}

func (s slowSource) Name() string { return s.name }
func (s slowSource) Close() error { return nil }
func (s slowSource) Keys(ctx context.Context, emit func(inventory.Key) error) inventory.Result {
	for i := range s.keys {
		if err := emit(inventory.Key{Label: fmt.Sprint(s.name, i)}); err != nil {
			return inventory.Result{Status: inventory.StatusFailed, Err: err}
		}
		time.Sleep(time.Millisecond)
	}
	return inventory.Result{Status: inventory.StatusComplete, Keys: s.keys}
}

// TestInventoryProgressOnTTY: sources read of all and keys listed.
func TestInventoryProgressOnTTY(t *testing.T) {
	tty, output := openPTY(t)
	p := InventoryParams{Sources: []inventory.Opened{{Source: slowSource{"hsm1", 120}}, {Source: slowSource{"files", 30}}}}
	if _, err := Inventory(context.Background(), Env{Stderr: tty, Progress: true}, p, nil); err != nil {
		t.Fatal(err)
	}
	out := output()
	if !strings.Contains(out, "2/2 sources") || !strings.Contains(out, "150 keys") {
		t.Errorf("inventory progress: %q", out)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := Inventory(context.Background(), Env{Stderr: w, Progress: true}, p, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if b, _ := io.ReadAll(r); len(b) != 0 {
		t.Errorf("progress written to a pipe: %q", b)
	}
}

// TestProgressNeedsAsking: a terminal without Env.Progress gets no bar
// (keyaudit ct watch runs forever and draws none).
func TestProgressNeedsAsking(t *testing.T) {
	tty, output := openPTY(t)
	if newScanBar(Env{Stderr: tty}) != nil || newCTBars(Env{Stderr: tty}) != nil || newSourceBar(Env{Stderr: tty}, 1) != nil {
		t.Error("bar without Env.Progress")
	}
	if newCTBars(Env{Stderr: tty, Progress: true}) == nil {
		t.Error("no CT bars on a terminal")
	}
	if out := output(); out != "" {
		t.Errorf("wrote %q", out)
	}
}
