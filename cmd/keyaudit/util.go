package main

import (
	"fmt"
	"io"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
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

// checkFailOn refuses a bad --fail-on (exit 2).
func checkFailOn(s string) error {
	_, err := parseFailOn(s)
	return err
}

// invalid marks err, a bad setting, exit 2 (nil stays nil).
func invalid(err error) error {
	if err == nil {
		return nil
	}
	return withCode(exitError, err)
}

// checkFormat refuses an output format no stream renders (exit 2).
func checkFormat(format string) error {
	_, err := reports.NewStream[int](io.Discard, format, nil)
	return invalid(err)
}

// exit is exit 1 when a finding reaches the threshold, else nil.
func (f failOn) exit(fs []reconcile.Finding) error {
	if f.Exceeded(fs) {
		return withCode(exitFindings, nil)
	}
	return nil
}
