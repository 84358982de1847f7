package main

import (
	"fmt"

	"github.com/keyaudit/keyaudit/reconcile"
)

// failOn is a parsed --fail-on, with the exit it means.
type failOn struct{ reconcile.Threshold }

// parseFailOn parses --fail-on; a bad value is exit 2.
func parseFailOn(s string) (failOn, error) {
	t, err := reconcile.ParseThreshold(s)
	if err != nil {
		return failOn{}, withCode(exitError, fmt.Errorf("--fail-on: %w", err))
	}
	return failOn{t}, nil
}

// exit is exit 1 when a finding reaches the threshold, else nil.
func (f failOn) exit(fs []reconcile.Finding) error {
	if f.Exceeded(fs) {
		return withCode(exitFindings, nil)
	}
	return nil
}
