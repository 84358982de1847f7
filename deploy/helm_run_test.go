package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keyaudit/keyaudit/internal/testlab"
)

var buildKeyaudit = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "keyaudit-deploy-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "keyaudit")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/keyaudit").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// TestHelmAuditRuns runs the chart's audit container as its pod would: the
// rendered args against the image's entrypoint (a freshly built
// keyaudit), the ConfigMap, the PIN Secret and the reports volume laid
// out at their mount paths (under a temp dir), the store URL in the
// environment, and an HSM (SoftHSM) behind the config's PKCS#11 URI.
// Only the inventory stage runs: nothing leaves the machine.
func TestHelmAuditRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: builds keyaudit and runs the rendered CronJob against SoftHSM")
	}
	hsm := testlab.NewSoftHSM(t)
	tk := hsm.InitToken("hsm1", "4321")
	tk.GenKeyPair("EC:prime256v1", "web", "01")
	bin, err := buildKeyaudit()
	if err != nil {
		t.Fatal(err)
	}

	m := render(t, "audit.stages={inventory}", "config.scan=null", "config.watch=null")
	cj := m["CronJob/audit-keyaudit-audit"]
	pod := at(t, cj, "spec", "jobTemplate", "spec", "template", "spec")
	c := at(t, pod, "containers", 0)
	root := t.TempDir()
	// Each volume at root+mountPath, filled as the kubelet would.
	var rewrite []string
	for _, mnt := range at(t, c, "volumeMounts").([]any) {
		name, path := at(t, mnt, "name").(string), at(t, mnt, "mountPath").(string)
		dir := filepath.Join(root, path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		rewrite = append(rewrite, path, dir)
		v := volume(t, pod, name)
		switch {
		case at(t, v, "configMap") != nil:
			cm := m["ConfigMap/"+at(t, v, "configMap", "name").(string)]
			for file, data := range at(t, cm, "data").(map[string]any) {
				writeFile(t, filepath.Join(dir, file), data.(string), 0o644)
			}
		case at(t, v, "secret") != nil:
			if at(t, v, "secret", "secretName") != "keyaudit-pkcs11-pin" {
				t.Fatalf("unexpected Secret volume %v", v)
			}
			item := at(t, v, "secret", "items", 0)
			writeFile(t, filepath.Join(dir, at(t, item, "path").(string)), tk.PIN, os.FileMode(at(t, v, "secret", "defaultMode").(int)))
		}
	}
	rw := strings.NewReplacer(rewrite...)
	cfg := filepath.Join(root, "etc/keyaudit/keyaudit.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The image's vendor module is SoftHSM here.
	conf := strings.ReplaceAll(rw.Replace(string(b)), "/usr/lib/pkcs11/vendor-pkcs11.so", hsm.Module)
	writeFile(t, cfg, conf, 0o644)

	var args []string
	for _, a := range strs(t, at(t, c, "args")) {
		args = append(args, rw.Replace(a))
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + root, "SOFTHSM2_CONF=" + hsm.Conf,
		"KEYAUDIT_STORE=" + filepath.Join(root, "store.db")} // the keyaudit-store Secret's url
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if code != 0 && code != 1 { // 1: findings at or above --fail-on
		t.Fatalf("keyaudit %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if strings.Contains(strings.Join(args, " "), tk.PIN) {
		t.Error("the PIN is in argv")
	}

	reports := filepath.Join(root, "var/lib/keyaudit/reports")
	for _, f := range []string{"audit.html", "audit.json", "keyaudit.sarif", "keyaudit.prom"} {
		if fi, err := os.Stat(filepath.Join(reports, f)); err != nil || fi.Size() == 0 {
			t.Errorf("report %s not written: %v\n%s", f, err, stderr.String())
		}
	}
	prom, err := os.ReadFile(filepath.Join(reports, "keyaudit.prom"))
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(prom))
	if err != nil {
		t.Fatalf("keyaudit.prom: %v", err)
	}
	inv := false
	for _, s := range families["keyaudit_stage_ok"].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == "stage" && l.GetValue() == "inventory" && s.GetGauge().GetValue() == 1 {
				inv = true
			}
		}
	}
	if !inv || len(families["keyaudit_inventory_keys"].GetMetric()) == 0 {
		t.Errorf("the audit did not inventory the HSM:\n%s\n%s", prom, stderr.String())
	}
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}
