package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// tool finds a binary .ci/install.sh builds into $KEYAUDIT_TOOLS/bin
// (default ~/.cache/keyaudit-tools/bin), else on PATH. Missing, the test
// skips, or fails under CI=true.
func tool(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("KEYAUDIT_TOOLS")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".cache", "keyaudit-tools")
		}
	}
	if dir != "" {
		p := filepath.Join(dir, "bin", name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true: run .ci/install.sh", name)
	}
	t.Skipf("%s not installed (.ci/install.sh builds it into $KEYAUDIT_TOOLS/bin)", name)
	return ""
}
