package reports

import (
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mattn/go-runewidth"
	"golang.org/x/term"
)

// Terminal widths. DefaultWidth is used when the output is neither a
// terminal nor sized by $COLUMNS (a file, a pipe to less); minWidth is
// the narrowest layout tables try to fit.
const (
	DefaultWidth = 100
	minWidth     = 40
	maxWidth     = 1000
)

// Terminal is what a table needs to know about where it is printed.
type Terminal struct {
	// Width is the number of columns a line may take; 0 means
	// DefaultWidth.
	Width int
	// Color allows ANSI colour and bold.
	Color bool
}

// TerminalOf describes w for tables: its width is $COLUMNS when set to a
// number (so a CI log piped through a shell can ask for a width), else
// the terminal's (TIOCGWINSZ) when w is one, else DefaultWidth. Colour
// is on only when w is a terminal and $NO_COLOR is unset or empty
// (https://no-color.org).
func TerminalOf(w io.Writer) Terminal {
	return terminalOf(w, os.Getenv)
}

func terminalOf(w io.Writer, getenv func(string) string) Terminal {
	t := Terminal{Width: DefaultWidth}
	fd, tty := ttyFd(w)
	if tty {
		if cols, _, err := term.GetSize(fd); err == nil && cols > 0 {
			t.Width = cols
		}
		t.Color = getenv("NO_COLOR") == ""
	}
	if n, err := strconv.Atoi(strings.TrimSpace(getenv("COLUMNS"))); err == nil && n > 0 {
		t.Width = n
	}
	t.Width = min(max(t.Width, minWidth), maxWidth)
	return t
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	_, ok := ttyFd(w)
	return ok
}

func ttyFd(w io.Writer) (int, bool) {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

func (t Terminal) width() int {
	if t.Width <= 0 {
		return DefaultWidth
	}
	return t.Width
}

// ANSI SGR parameters.
const (
	sgrBold    = "1"
	sgrDim     = "2"
	sgrRed     = "31"
	sgrBoldRed = "1;31"
	sgrYellow  = "33"
	sgrBlue    = "34"
)

// paint wraps s in the SGR sequence code when colour is on.
func (t Terminal) paint(code, s string) string {
	if !t.Color || code == "" || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// severitySGR is the colour of a severity name (or a cell starting with
// one, such as "high (suppressed)").
func severitySGR(cell string) string {
	sev, _, _ := strings.Cut(strings.ToLower(cell), " ")
	if strings.Contains(cell, "suppressed") {
		return sgrDim
	}
	switch sev {
	case "critical":
		return sgrBoldRed
	case "high":
		return sgrRed
	case "medium":
		return sgrYellow
	case "low":
		return sgrBlue
	case "info":
		return sgrDim
	}
	return ""
}

// displayWidth is how many terminal columns s takes.
func displayWidth(s string) int { return runewidth.StringWidth(s) }
