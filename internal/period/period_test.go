package period

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "2y": 2 * 365 * 24 * time.Hour, "6w": 42 * 24 * time.Hour,
		"12h": 12 * time.Hour, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute, "0": 0, "0d": 0,
		" 7d ": 7 * 24 * time.Hour, "720h": 720 * time.Hour, "-5m": -5 * time.Minute,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "1.5y", "-1d", "+1d", "1 d", "soon", "3mo", "999999999y", "1y30d"} {
		if d, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, d)
		}
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		Year: "1y", 2 * Week: "2w", 30 * Day: "30d", 36 * time.Hour: "36h0m0s", 0: "0s",
	} {
		if got := Format(d); got != want {
			t.Errorf("Format(%v) = %q, want %q", d, got, want)
		}
		if back, err := Parse(Format(d)); err != nil || back != d {
			t.Errorf("Parse(Format(%v)) = %v, %v", d, back, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"30d", "2y", "6w", "12h", "1h30m", "0", "-1d", "99999999999y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		if back, err := Parse(Format(d)); err != nil || back != d {
			t.Errorf("Parse(%q) = %v, but Parse(Format) = %v, %v", s, d, back, err)
		}
	})
}
