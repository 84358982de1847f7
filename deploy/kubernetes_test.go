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
	for _, f := range []string{"namespace.yaml", "configmap.yaml", "cronjob-scan.yaml", "cronjob-audit.yaml", "queue/worker-deployment.yaml", "queue/cronjob-enqueue.yaml"} {
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
	script := fmt.Sprint(at(t, c, "command"))
	var mount string
	for _, m := range at(t, c, "volumeMounts").([]any) {
		if at(t, m, "name") == "pkcs11-pin" {
			mount = at(t, m, "mountPath").(string)
		}
	}
	var vol any
	for _, v := range at(t, pod, "volumes").([]any) {
		if at(t, v, "name") == "pkcs11-pin" {
			vol = v
		}
	}
	if mount == "" || vol == nil {
		t.Fatal("no pkcs11-pin volume")
	}
	path := at(t, vol, "secret", "items", 0, "path").(string)
	if !strings.Contains(script, "pin-source=file:"+mount+"/"+path) {
		t.Errorf("the PKCS#11 URI does not read the mounted PIN file %s/%s: %s", mount, path, script)
	}
	if at(t, vol, "secret", "secretName") != "keyaudit-pkcs11-pin" || at(t, vol, "secret", "defaultMode") != 0o400 {
		t.Errorf("PIN secret volume %v", vol)
	}
	if strings.Contains(script, "pin-value") || strings.Contains(fmt.Sprint(at(t, c, "env")), "PIN") {
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
