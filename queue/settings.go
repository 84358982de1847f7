package queue

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/keyaudit/keyaudit/scanner"
)

// WorkerSettings are a worker's settings as keyaudit worker's flags and
// config section give them: 0 workers of a kind serve none (Config's
// negative), and the scope is CIDR text.
type WorkerSettings struct {
	// Worker holds the other settings, as Config documents them; its
	// ScanWorkers, CTWorkers and Scope are replaced.
	Worker      Config
	ScanWorkers int
	CTWorkers   int
	Scope       []string
}

// Config validates s and returns the worker's Config. The counts must
// not be negative and one must be positive.
func (s WorkerSettings) Config() (Config, error) {
	scope, err := scanner.ParseScope(s.Scope)
	if err != nil {
		return Config{}, fmt.Errorf("--scope: %w", err)
	}
	if s.ScanWorkers < 0 || s.CTWorkers < 0 || s.ScanWorkers+s.CTWorkers == 0 {
		return Config{}, errors.New("--scan-workers and --ct-workers must not be negative, and one must be positive")
	}
	cfg := s.Worker
	cfg.ScanWorkers, cfg.CTWorkers, cfg.Scope = cmp.Or(s.ScanWorkers, -1), cmp.Or(s.CTWorkers, -1), scope
	return cfg, nil
}
