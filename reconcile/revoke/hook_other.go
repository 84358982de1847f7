//go:build !unix

package revoke

import "os/exec"

func setProcessGroup(*exec.Cmd) {}
