// Package examples holds example configurations; its test checks the CI
// integrations: the GitHub Action (action.yml at the repository root), the
// example GitHub workflow and the GitLab CI template.
package examples

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	actionFile   = "../action.yml"
	workflowFile = "github/keyaudit.yml"
	gitlabFile   = "../deploy/gitlab/keyaudit.gitlab-ci.yml"
)

// actionlint finds actionlint (github.com/rhysd/actionlint v1.7.12, built
// by .ci/install.sh into ${KEYAUDIT_TOOLS:-~/.cache/keyaudit-tools}/bin),
// else on PATH. Missing, the test skips, and fails under CI=true.
func actionlint(t *testing.T) string {
	t.Helper()
	tools := os.Getenv("KEYAUDIT_TOOLS")
	if tools == "" {
		home, _ := os.UserHomeDir()
		tools = filepath.Join(home, ".cache", "keyaudit-tools")
	}
	if p := filepath.Join(tools, "bin", "actionlint"); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath("actionlint"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("actionlint is missing and CI=true: run .ci/install.sh (it builds actionlint v1.7.12 into $KEYAUDIT_TOOLS/bin)")
	}
	t.Skip("actionlint is not installed: .ci/install.sh builds it into $KEYAUDIT_TOOLS/bin (CI=true makes this a failure)")
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func readYAML(t *testing.T, path string, v any) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

type action struct {
	Inputs map[string]struct {
		Default string `yaml:"default"`
	} `yaml:"inputs"`
	Runs struct {
		Using string           `yaml:"using"`
		Steps []map[string]any `yaml:"steps"`
	} `yaml:"runs"`
}

// lintProject lays out a repository actionlint can check: action.yml at
// its root (a local action, "uses: ./"), the example workflow using it,
// and the action's composite steps as a reusable workflow whose inputs
// are the action's, so actionlint checks the steps' expressions, contexts
// and action inputs too. It returns the project directory.
func lintProject(t *testing.T, mutate func(composite string) string) string {
	t.Helper()
	var a action
	ab := readYAML(t, actionFile, &a)
	dir := t.TempDir()
	wfDir := filepath.Join(dir, ".github", "workflows")
	for _, d := range []string{filepath.Join(dir, ".git"), wfDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wf, err := os.ReadFile(workflowFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(wf, []byte("uses: keyaudit/keyaudit@main")) {
		t.Fatal("the example workflow does not use the keyaudit action")
	}
	wf = bytes.ReplaceAll(wf, []byte("uses: keyaudit/keyaudit@main"), []byte("uses: ./"))

	inputs := map[string]any{}
	for name, in := range a.Inputs {
		inputs[name] = map[string]any{"type": "string", "required": false, "default": in.Default}
	}
	composite, err := yaml.Marshal(map[string]any{
		"name": "keyaudit action steps",
		"on":   map[string]any{"workflow_call": map[string]any{"inputs": inputs}},
		"jobs": map[string]any{"action": map[string]any{"runs-on": "ubuntu-latest", "steps": a.Runs.Steps}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		filepath.Join(dir, "action.yml"):      ab,
		filepath.Join(wfDir, "keyaudit.yml"):  wf,
		filepath.Join(wfDir, "composite.yml"): []byte(mutate(string(composite))),
	} {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runActionlint(t *testing.T, bin, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, "-no-color", ".github/workflows/keyaudit.yml", ".github/workflows/composite.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestActionlint: the action's steps and the example workflow pass
// actionlint, and actionlint does find a mistake planted in them.
func TestActionlint(t *testing.T) {
	bin := actionlint(t)
	if out, err := runActionlint(t, bin, lintProject(t, func(s string) string { return s })); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
	bad := lintProject(t, func(s string) string { return strings.Replace(s, "inputs.fail-on", "inputs.fail-onn", 1) })
	if out, err := runActionlint(t, bin, bad); err == nil || !strings.Contains(out, "fail-onn") {
		t.Fatalf("actionlint missed an undefined input: %v\n%s", err, out)
	}
}

// TestActionShape: a composite action that installs keyaudit, runs the
// audit with SARIF and JUnit reports, uploads the SARIF, writes a job
// summary and fails per fail-on; every flag it passes is one keyaudit has.
func TestActionShape(t *testing.T) {
	var a action
	b := readYAML(t, actionFile, &a)
	if a.Runs.Using != "composite" {
		t.Fatalf("runs.using %q", a.Runs.Using)
	}
	var uses []string
	for _, s := range a.Runs.Steps {
		if u, ok := s["uses"].(string); ok {
			uses = append(uses, u)
		}
	}
	if !slices.Contains(uses, "github/codeql-action/upload-sarif@v3") {
		t.Errorf("the action uploads no SARIF: %v", uses)
	}
	text := string(b)
	for _, want := range []string{"go install \"github.com/keyaudit/keyaudit/cmd/keyaudit@", " audit --fail-on ", "sarif=$SARIF", "junit=$JUNIT",
		"report --format markdown --summary >> \"$GITHUB_STEP_SUMMARY\""} {
		if !strings.Contains(text, want) {
			t.Errorf("action.yml lacks %q", want)
		}
	}
	if a.Inputs["sarif"].Default == "" || a.Inputs["fail-on"].Default != "high" {
		t.Errorf("inputs: %+v", a.Inputs)
	}
	// Inputs reach scripts through env only: an expression inside run:
	// would be script injection.
	for _, s := range a.Runs.Steps {
		if run, ok := s["run"].(string); ok && strings.Contains(run, "${{") {
			t.Errorf("step %v interpolates an expression into its script", s["name"])
		}
	}
	checkFlags(t, actionFile, text)
}

// TestGitLabTemplate: the template's job runs keyaudit audit and keeps
// JUnit (as the pipeline's test report) and SARIF artefacts.
func TestGitLabTemplate(t *testing.T) {
	var doc map[string]any
	b := readYAML(t, gitlabFile, &doc)
	job, ok := doc["keyaudit"].(map[string]any)
	if !ok {
		t.Fatal("no keyaudit job")
	}
	script := ""
	for _, l := range job["script"].([]any) {
		script += l.(string) + "\n"
	}
	art, _ := job["artifacts"].(map[string]any)
	reps, _ := art["reports"].(map[string]any)
	junit, _ := reps["junit"].(string)
	if junit == "" || !strings.Contains(script, "--report junit="+junit) {
		t.Errorf("artifacts.reports.junit %q is not what the audit writes", junit)
	}
	m := regexp.MustCompile(`--report sarif=(\S+)`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("the job writes no SARIF")
	}
	kept := false
	for _, p := range art["paths"].([]any) {
		kept = kept || strings.HasPrefix(m[1], strings.TrimSuffix(p.(string), "/")+"/") || m[1] == p
	}
	if !kept || art["when"] != "always" {
		t.Errorf("the SARIF report %s is not kept as an artefact (when: always): %v", m[1], art)
	}
	if !strings.Contains(script, "exit $code") {
		t.Error("the job does not fail per the audit's exit code")
	}
	checkFlags(t, gitlabFile, string(b))
}

// checkFlags: every --flag a CI file passes to keyaudit is defined by
// some keyaudit command (a renamed flag breaks every pipeline).
func checkFlags(t *testing.T, name, text string) {
	t.Helper()
	src, err := filepath.Glob("../cmd/keyaudit/*.go")
	if err != nil || len(src) == 0 {
		t.Fatal("cmd/keyaudit sources not found")
	}
	var all strings.Builder
	for _, f := range src {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	defined := all.String()
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		for _, m := range regexp.MustCompile(`(?:^|[\s("])--([a-z][a-z-]+)`).FindAllStringSubmatch(line, -1) {
			flag := m[1]
			if seen[flag] || flag == "body-file" {
				continue
			}
			seen[flag] = true
			if !strings.Contains(defined, `"`+flag+`"`) {
				t.Errorf("%s passes --%s, which no keyaudit command defines", name, flag)
			}
		}
	}
	for _, want := range []string{"config", "fail-on", "report"} {
		if !seen[want] {
			t.Errorf("%s does not pass --%s", name, want)
		}
	}
}
