//go:build linux

package reports

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// openTTY opens a pseudo-terminal cols wide and returns its terminal side.
func openTTY(t *testing.T, cols uint16) *os.File {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
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
	t.Cleanup(func() { pts.Close() })
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
		t.Fatalf("winsize: %v", err)
	}
	return pts
}

// TestTerminalOfTTY: a terminal's width comes from TIOCGWINSZ unless
// $COLUMNS says otherwise; colour is on unless $NO_COLOR is set to
// anything but the empty string.
func TestTerminalOfTTY(t *testing.T) {
	tty := openTTY(t, 87)
	if !IsTerminal(tty) {
		t.Fatal("a pseudo-terminal is not a terminal")
	}
	for _, c := range []struct {
		env  map[string]string
		want Terminal
	}{
		{nil, Terminal{Width: 87, Color: true}},
		{map[string]string{"NO_COLOR": "1"}, Terminal{Width: 87}},
		{map[string]string{"NO_COLOR": ""}, Terminal{Width: 87, Color: true}},
		{map[string]string{"COLUMNS": "120"}, Terminal{Width: 120, Color: true}},
	} {
		if got := terminalOf(tty, env(c.env)); got != c.want {
			t.Errorf("env %v: %+v, want %+v", c.env, got, c.want)
		}
	}
}
