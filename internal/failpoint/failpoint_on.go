//go:build failpoints

// Package failpoint lets crash tests kill keyaudit at named points. Built
// with the failpoints tag, Hit(name) kills the process with SIGKILL — no
// deferred function runs, as in a power cut — when $KEYAUDIT_FAILPOINT
// names that point.
package failpoint

import (
	"os"
	"syscall"
)

// Hit kills the process when $KEYAUDIT_FAILPOINT is name.
func Hit(name string) {
	if os.Getenv("KEYAUDIT_FAILPOINT") == name {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
