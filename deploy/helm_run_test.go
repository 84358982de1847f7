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

// TestHelmAuditRuns runs the chart's rendered audit container as its pod
// would (see runAuditPod), with only the inventory stage: nothing leaves
// the machine.
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
	configMaps := map[string]any{}
	for k, v := range m {
		if name, ok := strings.CutPrefix(k, "ConfigMap/"); ok {
			configMaps[name] = at(t, v, "data")
		}
	}
	runAuditPod(t, bin, hsm, tk, pod, configMaps, nil)
}

// TestKubernetesAuditRuns does the same for deploy/kubernetes's audit
// CronJob, with its CT and CAA stages left out (they would leave the
// machine).
func TestKubernetesAuditRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: builds keyaudit and runs the audit CronJob against SoftHSM")
	}
	hsm := testlab.NewSoftHSM(t)
	tk := hsm.InitToken("hsm1", "4321")
	tk.GenKeyPair("EC:prime256v1", "web", "01")
	bin, err := buildKeyaudit()
	if err != nil {
		t.Fatal(err)
	}
	pod := at(t, docs(t, "cronjob-audit.yaml")[0], "spec", "jobTemplate", "spec", "template", "spec")
	cm := docs(t, "configmap.yaml")[0]
	runAuditPod(t, bin, hsm, tk, pod, map[string]any{at(t, cm, "metadata", "name").(string): at(t, cm, "data")},
		func(args []string) []string {
			for i, a := range args {
				if i > 0 && args[i-1] == "--stages" {
					if a != "inventory,ct,caa" {
						t.Fatalf("--stages %s", a)
					}
					args[i] = "inventory"
				}
			}
			return args
		})
}

// runAuditPod runs the first container of pod with bin as the image's
// entrypoint: each volume is laid out under a temp dir at its mount path
// (ConfigMaps and the PIN Secret filled in, the PIN file with the
// Secret's mode), paths in the args and the config point there, the
// image's vendor PKCS#11 module is SoftHSM, and the keyaudit-store
// Secret's URL is a SQLite file. Every --report must be written, the
// Prometheus one showing a complete inventory of the HSM.
func runAuditPod(t *testing.T, bin string, hsm *testlab.SoftHSM, tk *testlab.Token, pod any, configMaps map[string]any, editArgs func([]string) []string) {
	t.Helper()
	c := at(t, pod, "containers", 0)
	root := t.TempDir()
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
			data, ok := configMaps[at(t, v, "configMap", "name").(string)].(map[string]any)
			if !ok {
				t.Fatalf("no ConfigMap %v", at(t, v, "configMap", "name"))
			}
			for file, d := range data {
				writeFile(t, filepath.Join(dir, file), d.(string), 0o644)
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
	conf := strings.ReplaceAll(rw.Replace(string(b)), "/usr/lib/pkcs11/vendor-pkcs11.so", hsm.Module)
	writeFile(t, cfg, conf, 0o644)

	if at(t, c, "command") != nil {
		t.Fatalf("command %v: the container does not run the keyaudit entrypoint", at(t, c, "command"))
	}
	var args, reports []string
	for _, a := range strs(t, at(t, c, "args")) {
		args = append(args, rw.Replace(a))
	}
	if editArgs != nil {
		args = editArgs(args)
	}
	for i, a := range args {
		if i > 0 && args[i-1] == "--report" {
			_, path, _ := strings.Cut(a, "=")
			reports = append(reports, path)
		}
	}
	if len(reports) == 0 {
		t.Fatalf("no --report in %q", args)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + root, "SOFTHSM2_CONF=" + hsm.Conf,
		"KEYAUDIT_STORE=" + filepath.Join(root, "store.db")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 0 && code != 1 { // 1: findings at or above --fail-on
		t.Fatalf("keyaudit %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if strings.Contains(strings.Join(args, " "), tk.PIN) {
		t.Error("the PIN is in argv")
	}
	var prom []byte
	for _, r := range reports {
		fi, err := os.Stat(r)
		if err != nil || fi.Size() == 0 {
			t.Errorf("report %s not written: %v\n%s", r, err, stderr.String())
			continue
		}
		if strings.HasSuffix(r, ".prom") {
			prom, _ = os.ReadFile(r)
		}
	}
	if prom == nil {
		t.Fatal("no Prometheus report")
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(prom))
	if err != nil {
		t.Fatalf("Prometheus report: %v", err)
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
