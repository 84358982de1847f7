package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The image cannot be built here (no registry): this checks what the
// Dockerfile promises and that the manifests agree with it.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, drop comments.
	var instr []string
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			instr = append(instr, l)
		}
	}
	var from, user, entrypoint []string
	var runtime []string // instructions of the last stage
	for _, l := range instr {
		op, arg, _ := strings.Cut(l, " ")
		switch strings.ToUpper(op) {
		case "FROM":
			from = append(from, arg)
			runtime = nil
		case "USER":
			user = append(user, arg)
		case "ENTRYPOINT":
			entrypoint = append(entrypoint, arg)
		}
		runtime = append(runtime, l)
	}
	if len(from) < 2 || !strings.Contains(from[0], " AS build") || !strings.HasPrefix(from[0], "golang:") {
		t.Errorf("not a multi-stage build from a Go image: FROM %q", from)
	}
	if last := from[len(from)-1]; !strings.HasPrefix(last, "debian:") || !strings.HasSuffix(last, "-slim") {
		t.Errorf("runtime stage FROM %s, want a Debian slim image", last)
	}
	rt := strings.Join(runtime, "\n")
	if !strings.Contains(rt, "ARG WITH_SOFTHSM=false") || !strings.Contains(rt, "softhsm2 opensc") {
		t.Error("SoftHSM/OpenSC are not optional through WITH_SOFTHSM")
	}
	if !strings.Contains(rt, "COPY --from=build /out/keyaudit /usr/local/bin/keyaudit") {
		t.Error("the runtime stage does not copy the built keyaudit")
	}
	if len(entrypoint) != 1 {
		t.Fatalf("ENTRYPOINT %q", entrypoint)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint[0]), &ep); err != nil || len(ep) != 1 || ep[0] != "/usr/local/bin/keyaudit" {
		t.Errorf("ENTRYPOINT %s, want [\"/usr/local/bin/keyaudit\"] in exec form", entrypoint[0])
	}
	// Non-root, numerically (runAsNonRoot can only check a number), and
	// the uid the Kubernetes manifests and the chart run as.
	if len(user) != 1 || user[0] != "65532:65532" {
		t.Fatalf("USER %q, want 65532:65532", user)
	}
	cj := docs(t, "cronjob-audit.yaml")[0]
	if uid := at(t, cj, "spec", "jobTemplate", "spec", "template", "spec", "securityContext", "runAsUser"); fmt.Sprint(uid) != "65532" {
		t.Errorf("deploy/kubernetes runs as %v, the image as 65532", uid)
	}
	values, err := os.ReadFile("helm/keyaudit/values.yaml")
	if err != nil || !strings.Contains(string(values), "runAsUser: 65532") {
		t.Errorf("the chart does not run as the image's uid 65532: %v", err)
	}
	if _, err := os.Stat("../cmd/keyaudit"); err != nil {
		t.Errorf("the build's ./cmd/keyaudit: %v", err)
	}
}
