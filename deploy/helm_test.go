package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const chart = "helm/keyaudit"

// helm runs the helm CLI with its cache, config and data in a temp dir:
// lint and template read only the chart and never touch a cluster or a
// repository.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := tool(t, "helm")
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"), "HELM_DATA_HOME=" + filepath.Join(home, "data"), "KUBECONFIG=" + filepath.Join(home, "kubeconfig")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), err
}

// render runs helm template with the --set values given and returns the
// manifests by kind and name.
func render(t *testing.T, set ...string) map[string]map[string]any {
	t.Helper()
	args := []string{"template", "audit", chart, "--namespace", "keyaudit"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	manifests := map[string]map[string]any{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return manifests
		}
		if err != nil {
			t.Fatalf("helm template output: %v\n%s", err, out)
		}
		if m == nil {
			continue
		}
		key := fmt.Sprintf("%s/%s", m["kind"], at(t, m, "metadata", "name"))
		if manifests[key] != nil {
			t.Errorf("%s rendered twice", key)
		}
		manifests[key] = m
	}
}

func kinds(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func strs(t *testing.T, v any) []string {
	t.Helper()
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("%v (%T) is not a string", x, x)
		}
		out = append(out, s)
	}
	return out
}

func TestHelmLint(t *testing.T) {
	for _, set := range [][]string{nil, {"worker.enabled=true"}, {"reports.persistence.enabled=false", "pkcs11.enabled=false"}} {
		args := []string{"lint", "--strict", chart}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		if out, err := helm(t, args...); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	}
}

// checkPod holds what every keyaudit pod must do: run as non-root
// without privilege escalation on a read-only root filesystem, with no
// service-account token, and take the store URL from a Secret through
// the environment.
func checkPod(t *testing.T, name string, pod any) any {
	t.Helper()
	if at(t, pod, "securityContext", "runAsNonRoot") != true || at(t, pod, "securityContext", "runAsUser") == 0 {
		t.Errorf("%s: pod securityContext %v is not non-root", name, at(t, pod, "securityContext"))
	}
	if at(t, pod, "automountServiceAccountToken") != false {
		t.Errorf("%s: the service-account token is mounted", name)
	}
	c := at(t, pod, "containers", 0)
	sc := at(t, c, "securityContext")
	if at(t, sc, "allowPrivilegeEscalation") != false || at(t, sc, "readOnlyRootFilesystem") != true ||
		fmt.Sprint(at(t, sc, "capabilities", "drop")) != "[ALL]" {
		t.Errorf("%s: container securityContext %v", name, sc)
	}
	e := env(t, c)
	if at(t, e["KEYAUDIT_STORE"], "secretKeyRef", "name") != "keyaudit-store" || at(t, e["KEYAUDIT_STORE"], "secretKeyRef", "key") != "url" {
		t.Errorf("%s: KEYAUDIT_STORE is not from the keyaudit-store Secret: %v", name, e["KEYAUDIT_STORE"])
	}
	argv := strings.Join(append(strs(t, at(t, c, "command")), strs(t, at(t, c, "args"))...), " ")
	for _, secret := range []string{"postgres://", "postgresql://", "pin-value", "pin-source", "--store", "PIN="} {
		if strings.Contains(argv, secret) {
			t.Errorf("%s: argv carries a secret (%s): %s", name, secret, argv)
		}
	}
	return c
}

func TestHelmAuditCronJob(t *testing.T) {
	m := render(t)
	for _, k := range []string{"ConfigMap/audit-keyaudit", "CronJob/audit-keyaudit-audit", "PersistentVolumeClaim/audit-keyaudit-reports"} {
		if m[k] == nil {
			t.Fatalf("no %s in %v", k, kinds(m))
		}
	}
	if m["Deployment/audit-keyaudit-worker"] != nil || m["CronJob/audit-keyaudit-enqueue"] != nil {
		t.Errorf("workers rendered although worker.enabled is false: %v", kinds(m))
	}
	cj := m["CronJob/audit-keyaudit-audit"]
	if at(t, cj, "spec", "concurrencyPolicy") != "Forbid" {
		t.Errorf("concurrencyPolicy %v: two audits would run at once", at(t, cj, "spec", "concurrencyPolicy"))
	}
	pod := at(t, cj, "spec", "jobTemplate", "spec", "template", "spec")
	c := checkPod(t, "audit", pod)
	if at(t, c, "command") != nil {
		t.Errorf("command %v replaces the image's keyaudit entrypoint", at(t, c, "command"))
	}
	args := strs(t, at(t, c, "args"))
	if sub := subcommand(args); sub != "audit" {
		t.Fatalf("the CronJob runs %q, want audit: %q", sub, args)
	}

	// Reports land in the mounted reports volume, which is the chart's PVC.
	dir := mountPath(t, c, "reports")
	if dir != "/var/lib/keyaudit/reports" {
		t.Errorf("reports mounted at %q", dir)
	}
	var formats []string
	for i, a := range args {
		if a == "--report" {
			f, path, _ := strings.Cut(args[i+1], "=")
			formats = append(formats, f)
			if filepath.Dir(path) != dir {
				t.Errorf("--report %s is not written into the reports volume %s", args[i+1], dir)
			}
		}
	}
	if fmt.Sprint(formats) != "[html json sarif prometheus]" {
		t.Errorf("report formats %v", formats)
	}
	if claim := at(t, volume(t, pod, "reports"), "persistentVolumeClaim", "claimName"); claim != "audit-keyaudit-reports" {
		t.Errorf("reports volume claims %v", claim)
	}

	// The PIN: a Secret mounted read-only as a 0400 file, where the
	// config's pin-source points.
	pin := volume(t, pod, "pkcs11-pin")
	if pin == nil || at(t, pin, "secret", "secretName") != "keyaudit-pkcs11-pin" || at(t, pin, "secret", "defaultMode") != 0o400 {
		t.Fatalf("PIN volume %v", pin)
	}
	pinFile := mountPath(t, c, "pkcs11-pin") + "/" + at(t, pin, "secret", "items", 0, "path").(string)
	cfg := at(t, m["ConfigMap/audit-keyaudit"], "data", "keyaudit.yaml").(string)
	if !strings.Contains(cfg, "pin-source=file:"+pinFile) {
		t.Errorf("the config's PKCS#11 URI does not read %s:\n%s", pinFile, cfg)
	}
	for _, mnt := range at(t, c, "volumeMounts").([]any) {
		if n := at(t, mnt, "name"); (n == "pkcs11-pin" || n == "config") && at(t, mnt, "readOnly") != true {
			t.Errorf("%s is mounted writable", n)
		}
	}
	// A config change rolls into the next Job.
	if at(t, cj, "spec", "jobTemplate", "spec", "template", "metadata", "annotations", "checksum/config") == nil {
		t.Error("no checksum/config annotation")
	}
}

func TestHelmValues(t *testing.T) {
	t.Run("no persistence", func(t *testing.T) {
		m := render(t, "reports.persistence.enabled=false", "pkcs11.enabled=false", "audit.stages={inventory,ct}")
		if m["PersistentVolumeClaim/audit-keyaudit-reports"] != nil {
			t.Error("a PVC rendered with persistence disabled")
		}
		pod := at(t, m["CronJob/audit-keyaudit-audit"], "spec", "jobTemplate", "spec", "template", "spec")
		if v := volume(t, pod, "reports"); at(t, v, "emptyDir") == nil {
			t.Errorf("reports volume %v, want the emptyDir default", v)
		}
		if volume(t, pod, "pkcs11-pin") != nil {
			t.Error("PIN volume rendered with pkcs11.enabled=false")
		}
		args := strings.Join(strs(t, at(t, pod, "containers", 0, "args")), " ")
		if !strings.Contains(args, "--stages inventory,ct") {
			t.Errorf("args %s", args)
		}
	})
	t.Run("existing claim", func(t *testing.T) {
		m := render(t, "reports.persistence.existingClaim=shared-reports")
		if m["PersistentVolumeClaim/audit-keyaudit-reports"] != nil {
			t.Error("a PVC rendered beside an existing claim")
		}
		pod := at(t, m["CronJob/audit-keyaudit-audit"], "spec", "jobTemplate", "spec", "template", "spec")
		if at(t, volume(t, pod, "reports"), "persistentVolumeClaim", "claimName") != "shared-reports" {
			t.Error("the existing claim is not mounted")
		}
	})
	// values.schema.json refuses what keyaudit would refuse at 6 a.m.
	for _, c := range []struct{ set, want string }{
		{"audit.reports={html=../../etc/audit.html}", "/audit/reports/0"},
		{"audit.failOn=severe", "/audit/failOn"},
		{"audit.stages={inventory,scna}", "/audit/stages/1"},
		{"pkcs11.mountPath=run/pin", "/pkcs11/mountPath"},
	} {
		t.Run(c.set, func(t *testing.T) {
			out, err := helm(t, "template", "audit", chart, "--set", c.set)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("--set %s: %v (want an error at %s)\n%s", c.set, err, c.want, out)
			}
		})
	}
	t.Run("no store secret", func(t *testing.T) {
		if _, err := helm(t, "template", "audit", chart, "--set", "store.existingSecret="); err == nil || !strings.Contains(err.Error(), "store.existingSecret") {
			t.Errorf("rendered without a store Secret: %v", err)
		}
	})
}

func TestHelmWorker(t *testing.T) {
	m := render(t, "worker.enabled=true", "worker.replicas=3", "worker.scope={198.51.100.0/24,192.0.2.0/24}")
	d := m["Deployment/audit-keyaudit-worker"]
	if d == nil {
		t.Fatalf("no worker Deployment in %v", kinds(m))
	}
	if fmt.Sprint(at(t, d, "spec", "replicas")) != "3" {
		t.Errorf("replicas %v", at(t, d, "spec", "replicas"))
	}
	sel := at(t, d, "spec", "selector", "matchLabels").(map[string]any)
	labels := at(t, d, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range sel {
		if labels[k] != v {
			t.Errorf("selector %s=%v does not match the pod labels %v", k, v, labels)
		}
	}
	c := checkPod(t, "worker", at(t, d, "spec", "template", "spec"))
	args := strings.Join(strs(t, at(t, c, "args")), " ")
	if want := "worker --scan-workers 2 --ct-workers 4 --scope 198.51.100.0/24 --scope 192.0.2.0/24"; args != want {
		t.Errorf("worker args %q, want %q", args, want)
	}
	// SIGTERM gives running jobs 30 s: the grace period must be longer.
	if g, ok := at(t, d, "spec", "template", "spec", "terminationGracePeriodSeconds").(int); !ok || g <= 30 {
		t.Errorf("terminationGracePeriodSeconds %v", at(t, d, "spec", "template", "spec", "terminationGracePeriodSeconds"))
	}
	enq := m["CronJob/audit-keyaudit-enqueue"]
	if enq == nil {
		t.Fatalf("no enqueue CronJob in %v", kinds(m))
	}
	ec := checkPod(t, "enqueue", at(t, enq, "spec", "jobTemplate", "spec", "template", "spec"))
	script := strings.Join(strs(t, at(t, ec, "command")), " ")
	if !strings.Contains(script, "enqueue scan --shards 16 ") || !strings.Contains(script, "enqueue ct-sync") {
		t.Errorf("enqueue script %q", script)
	}
}
