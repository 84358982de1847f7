// Package deploy holds deployment examples; its test checks that the
// Kubernetes manifests parse and agree with each other and with keyaudit's
// flags.
package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// docs parses every YAML document of file into generic maps.
func docs(t *testing.T, file string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out = append(out, m)
	}
}

// at walks a path of map keys and list indices.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %T is not a map", path, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: no index %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

func env(t *testing.T, container any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, e := range at(t, container, "env").([]any) {
		m := e.(map[string]any)
		if v, ok := m["value"]; ok {
			out[m["name"].(string)] = v
		} else {
			out[m["name"].(string)] = m["valueFrom"]
		}
	}
	return out
}

func TestKustomizationResourcesExist(t *testing.T) {
	k := docs(t, "kustomization.yaml")[0]
	for _, r := range k["resources"].([]any) {
		if _, err := os.Stat(filepath.Join("kubernetes", r.(string))); err != nil {
			t.Errorf("kustomization resource %s: %v", r, err)
		}
	}
	for _, f := range []string{"namespace.yaml", "configmap.yaml", "cronjob-scan.yaml", "pvc-reports.yaml", "cronjob-audit.yaml", "queue/worker-deployment.yaml", "queue/cronjob-enqueue.yaml"} {
		for _, d := range docs(t, f) {
			if d["apiVersion"] == nil || d["kind"] == nil || at(t, d, "metadata", "name") == nil {
				t.Errorf("%s: document without apiVersion, kind or name", f)
			}
		}
	}
}

func TestIndexedScanJob(t *testing.T) {
	cj := docs(t, "cronjob-scan.yaml")[0]
	job := at(t, cj, "spec", "jobTemplate", "spec")
	if at(t, job, "completionMode") != "Indexed" {
		t.Fatal("scan Job is not Indexed")
	}
	c := at(t, job, "template", "spec", "containers", 0)
	e := env(t, c)
	shards := fmt.Sprint(e["SHARDS"])
	if fmt.Sprint(at(t, job, "completions")) != shards || fmt.Sprint(at(t, job, "parallelism")) != shards {
		t.Errorf("completions %v, parallelism %v, SHARDS %s: must agree", at(t, job, "completions"), at(t, job, "parallelism"), shards)
	}
	if at(t, e["RUN_GROUP"], "fieldRef", "fieldPath") != "metadata.labels['job-name']" {
		t.Errorf("RUN_GROUP is not the Job name: %v", e["RUN_GROUP"])
	}
	if at(t, e["KEYAUDIT_STORE"], "secretKeyRef", "name") != "keyaudit-store" {
		t.Errorf("KEYAUDIT_STORE not from the keyaudit-store Secret: %v", e["KEYAUDIT_STORE"])
	}
	if fmt.Sprint(at(t, c, "command")) != "[/bin/sh /etc/keyaudit/shard.sh]" {
		t.Errorf("command %v", at(t, c, "command"))
	}
}

func TestPINSecretMountedAsFile(t *testing.T) {
	cj := docs(t, "cronjob-audit.yaml")[0]
	pod := at(t, cj, "spec", "jobTemplate", "spec", "template", "spec")
	c := at(t, pod, "containers", 0)
	mount := mountPath(t, c, "pkcs11-pin")
	vol := volume(t, pod, "pkcs11-pin")
	if mount == "" || vol == nil {
		t.Fatal("no pkcs11-pin volume")
	}
	path := at(t, vol, "secret", "items", 0, "path").(string)
	// The audit reads the HSM named in the config's inventory: section.
	var cfg struct {
		Inventory struct {
			Sources []struct {
				PKCS11 string `yaml:"pkcs11"`
			} `yaml:"sources"`
		} `yaml:"inventory"`
	}
	cm := docs(t, "configmap.yaml")[0]
	if err := yaml.Unmarshal([]byte(at(t, cm, "data", "keyaudit.yaml").(string)), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Inventory.Sources) == 0 {
		t.Fatal("no inventory source in the ConfigMap's keyaudit.yaml")
	}
	for _, s := range cfg.Inventory.Sources {
		if !strings.HasSuffix(s.PKCS11, "pin-source=file:"+mount+"/"+path) {
			t.Errorf("the PKCS#11 URI does not read the mounted PIN file %s/%s: %s", mount, path, s.PKCS11)
		}
	}
	if at(t, vol, "secret", "secretName") != "keyaudit-pkcs11-pin" || at(t, vol, "secret", "defaultMode") != 0o400 {
		t.Errorf("PIN secret volume %v", vol)
	}
	argv := fmt.Sprint(at(t, c, "command"), at(t, c, "args"))
	if strings.Contains(argv, "pin-value") || strings.Contains(argv, "pin-source") || strings.Contains(fmt.Sprint(at(t, c, "env")), "PIN") {
		t.Error("the PIN must come from the file only")
	}
	create, err := os.ReadFile(filepath.Join("kubernetes", "create-secrets.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"secret generic keyaudit-store --from-file=url=", "secret generic keyaudit-pkcs11-pin --from-file=pin="} {
		if !strings.Contains(string(create), want) {
			t.Errorf("create-secrets.sh does not run %q", want)
		}
	}
}

// The scheduled audit runs keyaudit audit (the image's entrypoint is
// keyaudit) and writes its reports into a persistent volume.
func TestAuditCronJobWritesReports(t *testing.T) {
	cj := docs(t, "cronjob-audit.yaml")[0]
	pod := at(t, cj, "spec", "jobTemplate", "spec", "template", "spec")
	c := at(t, pod, "containers", 0)
	if cmd := at(t, c, "command"); cmd != nil {
		t.Errorf("command %v overrides the image's keyaudit entrypoint", cmd)
	}
	var args []string
	for _, a := range at(t, c, "args").([]any) {
		args = append(args, a.(string))
	}
	sub := subcommand(args)
	if sub != "audit" {
		t.Fatalf("the CronJob runs %q, want audit: %q", sub, args)
	}
	dir := mountPath(t, c, "reports")
	if dir == "" {
		t.Fatal("no reports volume mounted")
	}
	reports := 0
	for i, a := range args {
		if a == "--report" && i+1 < len(args) {
			_, path, ok := strings.Cut(args[i+1], "=")
			if !ok || !strings.HasPrefix(path, dir+"/") {
				t.Errorf("--report %s is not written into the reports volume %s", args[i+1], dir)
			}
			reports++
		}
	}
	if reports == 0 {
		t.Error("the audit writes no report")
	}
	claim := at(t, volume(t, pod, "reports"), "persistentVolumeClaim", "claimName")
	pvc := docs(t, "pvc-reports.yaml")[0]
	if pvc["kind"] != "PersistentVolumeClaim" || at(t, pvc, "metadata", "name") != claim {
		t.Errorf("reports claim %v is not pvc-reports.yaml's %v", claim, at(t, pvc, "metadata", "name"))
	}
	if at(t, c, "securityContext", "readOnlyRootFilesystem") != true || at(t, pod, "securityContext", "runAsNonRoot") != true {
		t.Error("the audit pod must run as non-root on a read-only root filesystem")
	}
}

// subcommand is the first argument that is neither a flag nor a flag's
// value (keyaudit's global flags all take one: --config, --store).
func subcommand(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--config" || a == "--store":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			return a
		}
	}
	return ""
}

func mountPath(t *testing.T, container any, name string) string {
	t.Helper()
	for _, m := range at(t, container, "volumeMounts").([]any) {
		if at(t, m, "name") == name {
			return at(t, m, "mountPath").(string)
		}
	}
	return ""
}

func volume(t *testing.T, pod any, name string) any {
	t.Helper()
	for _, v := range at(t, pod, "volumes").([]any) {
		if at(t, v, "name") == name {
			return v
		}
	}
	return nil
}

// The shard wrapper maps completion index i to --shard i+1/SHARDS.
func TestShardWrapper(t *testing.T) {
	cm := docs(t, "configmap.yaml")[0]
	dir := t.TempDir()
	script := filepath.Join(dir, "shard.sh")
	if err := os.WriteFile(script, []byte(at(t, cm, "data", "shard.sh").(string)), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := at(t, cm, "data", "keyaudit.yaml").(string); !ok {
		t.Fatal("no keyaudit.yaml in the ConfigMap")
	}
	// A stand-in keyaudit that prints its arguments.
	fake := filepath.Join(dir, "keyaudit")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(index string) (string, error) {
		cmd := exec.Command("/bin/sh", script)
		cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin", "JOB_COMPLETION_INDEX=" + index, "SHARDS=4", "RUN_GROUP=keyaudit-scan-29000000"}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	for i := range 4 {
		out, err := run(fmt.Sprint(i))
		want := fmt.Sprintf("--config /etc/keyaudit/keyaudit.yaml scan --shard %d/4 --run-group keyaudit-scan-29000000 --format jsonl", i+1)
		if err != nil || out != want {
			t.Errorf("index %d: %q, %v; want %q", i, out, err, want)
		}
	}
	if out, err := run("4"); err == nil {
		t.Errorf("index 4 of 4 shards ran: %q", out)
	}
}
