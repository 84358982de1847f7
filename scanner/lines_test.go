package scanner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// read collects what ReadSpecs yields: a spec's Raw, or "error: " and
// the error.
func read(r io.Reader, name string) []string {
	var out []string
	for sp, err := range ReadSpecs(r, name) {
		if err != nil {
			out = append(out, "error: "+err.Error())
			continue
		}
		out = append(out, sp.Raw)
	}
	return out
}

func TestScanTargetLines(t *testing.T) {
	long := strings.Repeat("a", MaxLineLen+1)
	in := "# targets\n\n127.0.0.1\r\n  example.com:8443  \nnot a target!\n" + long + "\nsmtp://mail.example.com\n192.0.2.0/30"
	got := read(strings.NewReader(in), "list")
	want := []string{
		"127.0.0.1",
		"example.com:8443",
		`error: list line 5: invalid target "not a target!": contains whitespace`,
		fmt.Sprintf(`error: list line 6: invalid target "%s…": line longer than %d bytes`, long[:64], MaxLineLen),
		"smtp://mail.example.com",
		"192.0.2.0/30",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A line over the cap is reported and skipped — however long, in bounded
// memory — and the rest of the list is still read.
func TestScanTargetLinesLongLineSkipped(t *testing.T) {
	huge := strings.Repeat("x", 8<<20)
	for name, in := range map[string]string{
		"cap+1 then more": strings.Repeat("b", MaxLineLen+1) + "\n127.0.0.2\n",
		"huge then more":  huge + "\n127.0.0.2\n",
		"huge, CRLF":      huge + "\r\n127.0.0.2\r\n",
		"huge at the end": "127.0.0.2\n" + huge,
	} {
		got := read(strings.NewReader(in), "stdin")
		var errs, specs int
		for _, g := range got {
			if strings.HasPrefix(g, "error: ") {
				errs++
				if !strings.Contains(g, "longer than") {
					t.Errorf("%s: %s", name, g)
				}
			} else if g == "127.0.0.2" {
				specs++
			}
		}
		if errs != 1 || specs != 1 || len(got) != 2 {
			t.Errorf("%s: got %.200q, want the long line reported and 127.0.0.2 read", name, got)
		}
	}
}

// The cap counts a line's bytes without its line ending.
func TestScanTargetLinesCapBoundary(t *testing.T) {
	atCap := strings.Repeat("c", MaxLineLen)
	for _, end := range []string{"\n", "\r\n", ""} {
		got := read(strings.NewReader(atCap+end), "f")
		// At the cap the line is read, and ParseSpec refuses it for its own
		// (shorter) limit.
		if len(got) != 1 || !strings.Contains(got[0], ": too long") {
			t.Errorf("%q ending: %.120q", end, got)
		}
		got = read(strings.NewReader(atCap+"c"+end), "f")
		if len(got) != 1 || !strings.Contains(got[0], "line longer than") {
			t.Errorf("%q ending, cap+1: %.120q", end, got)
		}
	}
}

func TestScanTargetLinesErrors(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("127.0.0.1\n127.0.0.2"), iotest.ErrReader(boom))
	var errs []error
	var specs []string
	for sp, err := range ReadSpecs(r, "f") {
		if err != nil {
			errs = append(errs, err)
		} else {
			specs = append(specs, sp.Raw)
		}
	}
	// The unterminated line cut by the error is not read as a target.
	if len(specs) != 1 || len(errs) != 1 || !errors.Is(errs[0], boom) || errs[0].Error() != "f line 2: boom" {
		t.Errorf("specs %v, errors %v", specs, errs)
	}

	for _, err := range ReadSpecs(strings.NewReader("bad target\n"), "f") {
		var te *TargetError
		if !errors.Is(err, ErrBadTarget) || !errors.As(err, &te) {
			t.Errorf("bad line: %v does not wrap a *TargetError", err)
		}
	}
}

func TestScanTargetLinesStop(t *testing.T) {
	n := 0
	for range ReadSpecs(strings.NewReader("127.0.0.1\nbad line\n127.0.0.2\n"), "f") {
		n++
		break
	}
	if n != 1 {
		t.Errorf("yielded %d after break", n)
	}
}

func TestScanTargets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(file, []byte("127.0.0.4\nbad one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdin := strings.NewReader("127.0.0.3\n" + strings.Repeat("z", MaxLineLen+1) + "\n")
	ts, err := ParseTargets([]string{"127.0.0.1", "-", "127.0.0.2", "-"}, stdin, file)
	if err != nil {
		t.Fatal(err)
	}
	var skipped []string
	ts.Skip = func(err error) { skipped = append(skipped, err.Error()) }
	gone := filepath.Join(dir, "gone.txt")
	if err := os.WriteFile(gone, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ts.Sources = append(ts.Sources, FileSource(gone, "--more"))
	if err := os.Remove(gone); err != nil { // gone by the time it is read
		t.Fatal(err)
	}
	ts.Sources = append(ts.Sources, ReaderSource("last", strings.NewReader("127.0.0.5")))
	var got []string
	for sp := range ts.All() {
		got = append(got, sp.Raw)
	}
	if want := "127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5"; strings.Join(got, " ") != want {
		t.Errorf("targets %v, want %s (arguments, then stdin once, then the files)", got, want)
	}
	if ts.Skipped() != 3 || len(skipped) != 3 || !strings.HasPrefix(skipped[0], "stdin line 2: ") ||
		!strings.HasPrefix(skipped[1], file+" line 2: ") || !strings.HasPrefix(skipped[2], "--more: open "+gone) {
		t.Errorf("skipped %d: %q", ts.Skipped(), skipped)
	}

	// Stopping early reads no further.
	ts, _ = ParseTargets([]string{"127.0.0.1", "-"}, iotest.ErrReader(errors.New("stdin read")), "")
	for range ts.All() {
		break
	}
	if ts.Skipped() != 0 {
		t.Errorf("read on after a stop: %d skipped", ts.Skipped())
	}

	for _, tt := range []struct {
		args []string
		file string
		want string
	}{
		{[]string{"127.0.0.1", "http://x"}, "", `invalid target "http://x": unknown protocol`},
		{nil, "", "no targets: give TARGET arguments, - for stdin, --targets-file, or scan.targets in the config"},
		{[]string{"127.0.0.1"}, gone, "--targets-file: open " + gone},
	} {
		if _, err := ParseTargets(tt.args, nil, tt.file); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ParseTargets(%q, %q): %v, want %s…", tt.args, tt.file, err, tt.want)
		}
	}
	if ts, err := ParseTargets([]string{"-"}, strings.NewReader(""), ""); err != nil || len(ts.Sources) != 1 {
		t.Errorf("stdin alone: %+v %v", ts, err)
	}
}

func TestScanTargetsFileSource(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.txt")
	src := FileSource(missing, "--targets-file")
	if err := src.Check(); err == nil || !strings.HasPrefix(err.Error(), "--targets-file: open "+missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Check = %v", err)
	}
	if err := os.WriteFile(missing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := src.Check(); err != nil {
		t.Errorf("Check of a readable file = %v", err)
	}
}

// FuzzScanTargetLines holds ReadSpecs to a line-by-line model: every line
// over the cap is one error, every other line is what ParseSpec makes of
// it, blank lines and comments are nothing, and nothing is dropped.
func FuzzScanTargetLines(f *testing.F) {
	for _, s := range []string{
		"", "\n", "127.0.0.1\n# c\n\nexample.com", "a b\r\n[::1]:443\r\n", "\r\n\r\r\n",
		strings.Repeat("d", MaxLineLen+1) + "\r\n127.0.0.1\n", "1.2.3.4, name.example\n\x00\xff\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var want []string
		for i, line := range strings.Split(in, "\n") {
			line = strings.TrimSuffix(line, "\r")
			text := strings.TrimSpace(line)
			switch {
			case len(line) > MaxLineLen:
				want = append(want, fmt.Sprintf("error: f line %d: long", i+1))
			case text == "" || text[0] == '#':
			default:
				sp, err := ParseSpec(text)
				if err != nil {
					want = append(want, fmt.Sprintf("error: f line %d: %v", i+1, err))
				} else {
					want = append(want, sp.Raw)
				}
			}
		}
		var got []string
		for sp, err := range ReadSpecs(strings.NewReader(in), "f") {
			switch {
			case err == nil:
				got = append(got, sp.Raw)
			case !errors.Is(err, ErrBadTarget):
				t.Fatalf("error %v does not wrap ErrBadTarget", err)
			case strings.HasSuffix(err.Error(), fmt.Sprintf(": line longer than %d bytes", MaxLineLen)):
				line, _, _ := strings.Cut(err.Error(), ": invalid target")
				got = append(got, "error: "+line+": long")
			default:
				got = append(got, "error: "+err.Error())
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("ReadSpecs(%.200q):\n%.2000s\nwant\n%.2000s", in, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
