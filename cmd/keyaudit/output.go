package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/stage"
)

// addOutputFlags gives every command of the tree under c that prints
// results in a --format, and has no -o of its own, an -o/--output FILE:
// what it would print on stdout is written to FILE instead, replaced only
// once the command finished (also when it exits 1 for findings), so a
// failed run never leaves half a file.
func addOutputFlags(a *app, c *cobra.Command) {
	for _, sub := range c.Commands() {
		addOutputFlags(a, sub)
	}
	if c.RunE == nil || c.Flags().Lookup("format") == nil || c.Flags().Lookup("output") != nil {
		return
	}
	var path string
	c.Flags().StringVarP(&path, "output", "o", "", "write the results to this file instead of stdout (replaced only once complete)")
	run := c.RunE
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if path == "" || path == "-" {
			return run(cmd, args)
		}
		return a.toOutput(path, func() error { return run(cmd, args) })
	}
}

// toOutput runs fn with a.stdout writing to the file at path.
func (a *app) toOutput(path string, fn func() error) error {
	var runErr error
	err := stage.WriteOutput(path, func(w io.Writer) error {
		stdout := a.stdout
		a.stdout = w
		defer func() { a.stdout = stdout }()
		runErr = fn()
		var ec *exitCodeError
		if errors.As(runErr, &ec) && ec.code == exitFindings {
			return nil // the results are complete: findings are an outcome
		}
		return runErr
	})
	if runErr != nil {
		return runErr
	}
	if err != nil {
		return withCode(exitError, fmt.Errorf("-o: %w", err))
	}
	return nil
}
