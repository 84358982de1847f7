//go:build unix

package revoke

import (
	"os/exec"
	"syscall"
)

// setProcessGroup runs the hook in its own process group and kills the
// whole group when the context ends, so a timed-out hook's children die
// with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
