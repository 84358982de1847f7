package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store/records"
)

// emitted renders keyaudit's Prometheus report of a small audit with one
// of everything and returns each metric name with its label names.
// Scrapers add these.
func emitted(t *testing.T) map[string][]string {
	t.Helper()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	leaf := certinfo.Cert{SHA256: "aa", SPKISHA256: "bb", Subject: "CN=www.example.test", Issuer: "CN=Example CA", Serial: "7a3f",
		NotBefore: now.AddDate(0, -2, 0), NotAfter: now.AddDate(0, 1, 0)}
	r := &reports.Report{
		GeneratedAt: now,
		Run:         reports.RunInfo{ID: 7, Stages: []reports.Stage{{Name: "scan", Status: reports.StageComplete}, {Name: "ct", Status: reports.StagePartial}}},
		Findings: []reconcile.Finding{{Check: "unmanaged-key", Severity: reconcile.Critical, SPKISHA256: "bb"},
			{Check: "certificate-expiring", Severity: reconcile.Medium, Suppressed: true}},
		Keys:         []records.Key{{Class: records.ClassPrivateKey}},
		Observations: []records.Observation{{Target: "www.example.test:443", IP: "127.0.1.1", Port: 443, Protocol: "tls", Chain: []certinfo.Cert{leaf}}},
		Sightings:    []records.Sighting{{Log: "https://ct.example.test/2026h2", Index: 1}},
	}
	var b bytes.Buffer
	if err := reports.Prometheus(&b, r, reports.Options{}); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(&b)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for name, f := range families {
		labels := []string{"instance", "job"}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		out[name] = labels
	}
	return out
}

// metricNames are the keyaudit and x509 metric names an expression names.
var metricName = regexp.MustCompile(`\b(?:keyaudit|x509)_[a-zA-Z0-9_]+`)

func checkMetrics(t *testing.T, where, expr string, have map[string][]string) []string {
	t.Helper()
	names := metricName.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("%s: %q names no keyaudit metric", where, expr)
	}
	for _, n := range names {
		if _, ok := have[n]; !ok {
			t.Errorf("%s: %s is not a metric keyaudit writes (%s)", where, n, strings.Join(slices.Sorted(maps.Keys(have)), ", "))
		}
	}
	return names
}

// promtool runs promtool in dir.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(tool(t, "promtool"), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func TestPrometheusRules(t *testing.T) {
	have := emitted(t)
	var rf ruleFile
	readYAML(t, "prometheus/keyaudit-rules.yaml", &rf)
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			InputSeries []struct {
				Series string `yaml:"series"`
			} `yaml:"input_series"`
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/keyaudit-rules.test.yaml", &tests)

	firing := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			}
		}
		// Fixtures use the names and labels keyaudit writes (and a
		// foreign x509-certificate-exporter series, told by filepath).
		for _, s := range tc.InputSeries {
			name, labels, _ := strings.Cut(s.Series, "{")
			if _, ok := have[name]; !ok {
				t.Errorf("fixture series %s: keyaudit writes no %s", s.Series, name)
			}
			if strings.Contains(labels, "filepath=") {
				continue
			}
			for _, kv := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
				if l, _, _ := strings.Cut(kv, "="); l != "" && !slices.Contains(have[name], l) {
					t.Errorf("fixture series %s: keyaudit's %s has no label %s (%v)", s.Series, name, l, have[name])
				}
			}
		}
	}
	alerts := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			checkMetrics(t, r.Alert, r.Expr, have)
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: no summary or description", r.Alert)
			}
			if !firing[r.Alert] {
				t.Errorf("%s: no promtool test sees it fire", r.Alert)
			}
			if strings.Contains(r.Expr, "x509_cert_") && !strings.Contains(r.Expr, `endpoint!=""`) {
				t.Errorf("%s: certificate alert not limited to keyaudit's series (endpoint!=\"\"): %s", r.Alert, r.Expr)
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alerting rule")
	}

	if out, err := promtool(t, "prometheus", "check", "rules", "keyaudit-rules.yaml"); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := promtool(t, "prometheus", "test", "rules", "keyaudit-rules.test.yaml"); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
	// A rule that no longer matches its fixture is caught.
	dir := t.TempDir()
	for _, f := range []string{"keyaudit-rules.yaml", "keyaudit-rules.test.yaml"} {
		b, err := os.ReadFile(filepath.Join("prometheus", f))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("< 14 * 86400"), []byte("< 7 * 86400"))
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := promtool(t, dir, "test", "rules", "keyaudit-rules.test.yaml"); err == nil {
		t.Errorf("promtool test rules passed a 7-day expiry rule against the 10-day fixture:\n%s", out)
	}
}

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestGrafanaDashboard(t *testing.T) {
	have := emitted(t)
	b, err := os.ReadFile("grafana/keyaudit-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q", d.UID, d.Title)
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			checkMetrics(t, "variable "+v.Name, v.Definition, have)
		}
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the $datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if refs[q.RefID] {
				t.Errorf("panel %q: refId %s twice", p.Title, q.RefID)
			}
			refs[q.RefID] = true
			for _, n := range checkMetrics(t, fmt.Sprintf("panel %q", p.Title), q.Expr, have) {
				used[n] = true
			}
			// Each query as a recording rule, so promtool parses it.
			expr := strings.ReplaceAll(q.Expr, "$instance", ".*")
			fmt.Fprintf(&rules, "      - record: dashboard:panel_%d_%s\n        expr: %s\n", p.ID, q.RefID, strconvQuote(expr))
		}
	}
	// What the dashboard is for: expiry timeline, findings by severity and
	// by check, unmanaged keys, CT sightings.
	for _, want := range []string{"x509_cert_not_after", "keyaudit_findings", "keyaudit_findings_by_check", "keyaudit_unmanaged_keys", "keyaudit_ct_sightings_by_log"} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard-queries.yaml"), []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, dir, "check", "rules", "dashboard-queries.yaml"); err != nil {
		t.Errorf("a dashboard query is not valid PromQL: %v\n%s\n%s", err, out, rules.String())
	}
}

// strconvQuote quotes s as a YAML (JSON-compatible) double-quoted string.
func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
