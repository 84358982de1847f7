// Package period parses the durations keyaudit's flags and config accept:
// Go durations ("12h", "90m", "1h30m") and whole numbers of days ("30d"),
// weeks ("6w") and years ("2y"). It owns that one syntax and nothing else:
// whether a duration makes sense is its caller's to decide.
package period

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Units beyond Go's hours. A year is 365 days and a week 7: periods in
// policy (cryptoperiods, lifetimes) are counted in days, never in calendar
// months, whose length varies; "m" stays Go's minute.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
	Year = 365 * Day
)

var units = map[byte]time.Duration{'d': Day, 'w': Week, 'y': Year}

// Parse parses s: a whole number followed by d, w or y, or anything
// time.ParseDuration accepts.
func Parse(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if u, ok := units[s[len(s)-1]]; ok {
		n, err := strconv.ParseUint(s[:len(s)-1], 10, 64)
		if err != nil || n > uint64(math.MaxInt64/u) {
			return 0, fmt.Errorf("duration %q: want a whole number of d (days), w (weeks, 7 days) or y (years, 365 days)", s)
		}
		return time.Duration(n) * u, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 12h, 30d, 6w or 2y", s)
	}
	return d, nil
}

// Format writes d the way Parse reads it, in the largest of y, w and d
// that divides it exactly, else as Go does.
func Format(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{Year, "y"}, {Week, "w"}, {Day, "d"}} {
		if d > 0 && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String()
}
