package stage

import (
	"io"
	"log/slog"
	"time"

	"github.com/keyaudit/keyaudit/store"
)

// Env is what every stage runs with.
type Env struct {
	// Store records the stage's run; nil runs the stage without
	// recording (keyaudit scan --no-store).
	Store store.Store
	// Log receives diagnostics (nil discards).
	Log *slog.Logger
	// Stderr receives progress and per-source warnings (nil discards).
	Stderr io.Writer
	// Progress shows a live count on Stderr when it is a terminal.
	Progress bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (e Env) logger() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

func (e Env) stderr() io.Writer {
	if e.Stderr == nil {
		return io.Discard
	}
	return e.Stderr
}

func (e Env) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

// Outcome is how one stage ended.
type Outcome struct {
	Stage  string          `json:"stage"`
	RunID  int64           `json:"run_id,omitempty"`
	Status store.RunStatus `json:"status"`
	Note   string          `json:"note,omitempty"`
	Took   time.Duration   `json:"-"`
	// TookText is Took rounded, for reports.
	TookText string `json:"took,omitempty"`
}
