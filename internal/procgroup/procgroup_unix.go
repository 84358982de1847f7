//go:build unix

// Package procgroup runs a child command in its own process group, so
// that ending it (a timeout, a cancelled context) ends its children too.
package procgroup

import (
	"os/exec"
	"syscall"
)

// Set makes cmd start in a new process group and its cancellation kill
// the whole group.
func Set(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
