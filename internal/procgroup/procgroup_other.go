//go:build !unix

// Package procgroup runs a child command in its own process group, so
// that ending it (a timeout, a cancelled context) ends its children too.
package procgroup

import "os/exec"

// Set does nothing where process groups are not available.
func Set(*exec.Cmd) {}
