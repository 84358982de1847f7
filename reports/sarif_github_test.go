package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyaudit/keyaudit/reconcile"
)

// githubSARIFProblems checks a SARIF file against what GitHub code
// scanning documents it needs to ingest a file ("SARIF support for code
// scanning" and "SARIF results exceed limits" on docs.github.com), beyond
// the OASIS schema: required properties, the hard limits past which the
// whole file is rejected, and the value sets GitHub reads. It returns
// every problem found.
func githubSARIFProblems(data []byte) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool *struct {
				Driver *struct {
					Name  string `json:"name"`
					Rules []struct {
						ID               string `json:"id"`
						Name             string `json:"name"`
						ShortDescription struct {
							Text string `json:"text"`
						} `json:"shortDescription"`
						FullDescription struct {
							Text string `json:"text"`
						} `json:"fullDescription"`
						Help struct {
							Text string `json:"text"`
						} `json:"help"`
						DefaultConfiguration struct {
							Level string `json:"level"`
						} `json:"defaultConfiguration"`
						Properties map[string]json.RawMessage `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex *int   `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					Physical *struct {
						ArtifactLocation *struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region *struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
				Suppressions        []struct {
					Kind string `json:"kind"`
				} `json:"suppressions"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &log); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	if log.Version != "2.1.0" {
		bad("version %q: GitHub reads SARIF 2.1.0", log.Version)
	}
	if log.Schema == "" {
		bad("no $schema")
	}
	if len(log.Runs) == 0 || len(log.Runs) > SARIFMaxRuns {
		bad("%d runs: want 1 to %d", len(log.Runs), SARIFMaxRuns)
	}
	for ri, run := range log.Runs {
		if run.Tool == nil || run.Tool.Driver == nil || run.Tool.Driver.Name == "" {
			bad("run %d: tool.driver.name is required", ri)
			continue
		}
		d := run.Tool.Driver
		if len(d.Rules) > SARIFMaxRulesPerRun {
			bad("run %d: %d rules (limit %d)", ri, len(d.Rules), SARIFMaxRulesPerRun)
		}
		rules := map[string]int{}
		for i, ru := range d.Rules {
			where := fmt.Sprintf("run %d rule %d (%s)", ri, i, ru.ID)
			if ru.ID == "" {
				bad("%s: id is required", where)
			}
			if _, dup := rules[ru.ID]; dup {
				bad("%s: id repeated", where)
			}
			rules[ru.ID] = i
			if utf8.RuneCountInString(ru.ID) > SARIFMaxRuleName || utf8.RuneCountInString(ru.Name) > SARIFMaxRuleName {
				bad("%s: id or name longer than %d characters", where, SARIFMaxRuleName)
			}
			for name, text := range map[string]string{"shortDescription": ru.ShortDescription.Text, "fullDescription": ru.FullDescription.Text} {
				if text == "" || utf8.RuneCountInString(text) > SARIFMaxDescription {
					bad("%s: %s.text is required, at most %d characters (has %d)", where, name, SARIFMaxDescription, utf8.RuneCountInString(text))
				}
			}
			if ru.Help.Text == "" {
				bad("%s: help.text is required", where)
			}
			switch ru.DefaultConfiguration.Level {
			case "", "note", "warning", "error":
			default:
				bad("%s: defaultConfiguration.level %q", where, ru.DefaultConfiguration.Level)
			}
			var tags []string
			if raw, ok := ru.Properties["tags"]; ok {
				if err := json.Unmarshal(raw, &tags); err != nil {
					bad("%s: properties.tags is not an array of strings", where)
				}
			}
			if len(tags) > SARIFMaxTagsPerRule {
				bad("%s: %d tags (limit %d)", where, len(tags), SARIFMaxTagsPerRule)
			}
			if raw, ok := ru.Properties["precision"]; ok {
				var p string
				_ = json.Unmarshal(raw, &p)
				switch p {
				case "very-high", "high", "medium", "low":
				default:
					bad("%s: precision %s", where, raw)
				}
			}
			// keyaudit's own rule: every rule has a security-severity, so
			// GitHub ranks every result.
			raw, ok := ru.Properties["security-severity"]
			var ss string
			if !ok || json.Unmarshal(raw, &ss) != nil {
				bad("%s: properties.security-severity must be a string", where)
			} else if v, err := strconv.ParseFloat(ss, 64); err != nil || v < 0 || v > 10 {
				bad("%s: security-severity %q is not a score from 0.0 to 10.0", where, ss)
			}
			hasSecurity := false
			for _, t := range tags {
				hasSecurity = hasSecurity || t == "security"
			}
			if !hasSecurity {
				bad("%s: a rule with a security-severity is a security rule: tag it security", where)
			}
		}
		if len(run.Results) > SARIFMaxResultsPerRun {
			bad("run %d: %d results (limit %d)", ri, len(run.Results), SARIFMaxResultsPerRun)
		}
		for i, res := range run.Results {
			where := fmt.Sprintf("run %d result %d (%s)", ri, i, res.RuleID)
			idx, ok := rules[res.RuleID]
			if res.RuleID == "" || !ok {
				bad("%s: ruleId is not in tool.driver.rules", where)
			}
			if res.RuleIndex != nil && (!ok || *res.RuleIndex != idx) {
				bad("%s: ruleIndex %d is not the rule's index %d", where, *res.RuleIndex, idx)
			}
			switch res.Level {
			case "", "none", "note", "warning", "error":
			default:
				bad("%s: level %q", where, res.Level)
			}
			if strings.TrimSpace(res.Message.Text) == "" {
				bad("%s: message.text is required", where)
			}
			if len(res.Locations) == 0 || len(res.Locations) > SARIFMaxLocations {
				bad("%s: %d locations (want 1 to %d)", where, len(res.Locations), SARIFMaxLocations)
			}
			for li, loc := range res.Locations {
				if loc.Physical == nil || loc.Physical.ArtifactLocation == nil || loc.Physical.ArtifactLocation.URI == "" {
					bad("%s location %d: physicalLocation.artifactLocation.uri is required (GitHub: expected a physical location)", where, li)
					continue
				}
				if p := uriProblem(loc.Physical.ArtifactLocation.URI); p != "" {
					bad("%s location %d: uri %q: %s", where, li, loc.Physical.ArtifactLocation.URI, p)
				}
				if loc.Physical.Region == nil || loc.Physical.Region.StartLine < 1 {
					bad("%s location %d: region.startLine is required (1 or more)", where, li)
				}
			}
			if len(res.PartialFingerprints) == 0 {
				bad("%s: partialFingerprints is required", where)
			}
			for k, v := range res.PartialFingerprints {
				if k == "" || v == "" {
					bad("%s: empty partial fingerprint %q=%q", where, k, v)
				}
			}
			for _, s := range res.Suppressions {
				if s.Kind != "inSource" && s.Kind != "external" {
					bad("%s: suppression kind %q", where, s.Kind)
				}
			}
		}
	}
	return probs
}

// uriProblem says what is wrong with an artifact location's URI for
// GitHub: a path relative to the repository root, or an absolute URI.
func uriProblem(uri string) string {
	if strings.ContainsAny(uri, " \\\t\n") {
		return "spaces and backslashes must be percent-encoded"
	}
	u, err := url.Parse(uri)
	if err != nil {
		return err.Error()
	}
	if u.Scheme != "" {
		if u.Scheme != "file" && u.Scheme != "https" && u.Scheme != "http" {
			return "scheme " + u.Scheme
		}
		return ""
	}
	if strings.HasPrefix(uri, "/") {
		return "a relative URI is relative to the repository root: no leading slash"
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == ".." || seg == "" {
			return "segment " + strconv.Quote(seg) + " leaves or skips the repository"
		}
	}
	return ""
}

// TestSARIFGitHubIngestion: the fixture, the empty report and the
// fixture with config locations pass GitHub's documented rules.
func TestSARIFGitHubIngestion(t *testing.T) {
	locate := func(f reconcile.Finding) (string, int) {
		if e, ok := ParseEndpoint(f.Endpoint); ok && e.Host == "www.example.test" {
			return "/srv/audit/deploy/keyaudit.yaml", 17
		}
		if f.Check == "orphaned-key" {
			return "/etc/keyaudit/keyaudit.yaml", 9 // outside the repository
		}
		return "", 0
	}
	cases := []struct {
		name string
		r    *Report
		opts Options
	}{
		{"fixture", fixtureReport(), Options{BaseDir: "/srv/audit"}},
		{"fixture without base", fixtureReport(), Options{}},
		{"fixture with locator", fixtureReport(), Options{BaseDir: "/srv/audit", Locate: locate}},
		{"empty", &Report{GeneratedAt: fixedNow, Run: RunInfo{ID: 1, Kind: "reconcile", Status: "complete"}}, Options{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := render(t, FormatSARIF, c.r, c.opts)
			for _, p := range githubSARIFProblems(out) {
				t.Error(p)
			}
		})
	}
	out := string(render(t, FormatSARIF, fixtureReport(), Options{BaseDir: "/srv/audit", Locate: locate}))
	if !strings.Contains(out, `"uri": "deploy/keyaudit.yaml"`) || !strings.Contains(out, `"startLine": 17`) {
		t.Error("the locator's config line is not the location of the www.example.test findings")
	}
	if strings.Contains(out, "/etc/keyaudit") {
		t.Error("a config outside the repository became a location")
	}
}

// TestSARIFGitHubChecksHaveTeeth: the checks find what GitHub rejects.
func TestSARIFGitHubChecksHaveTeeth(t *testing.T) {
	good := string(render(t, FormatSARIF, fixtureReport(), Options{}))
	for name, mutate := range map[string]func(string) string{
		"logical location only": func(s string) string {
			return strings.Replace(s, `"physicalLocation"`, `"elsewhere"`, 1)
		},
		"unknown rule": func(s string) string {
			return strings.Replace(s, `"ruleId": "certificate-expired"`, `"ruleId": "no-such-check"`, 1)
		},
		"no security-severity": func(s string) string {
			return strings.Replace(s, `"security-severity"`, `"x-severity"`, 1)
		},
		"no fingerprints": func(s string) string {
			return strings.Replace(s, `"partialFingerprints"`, `"fingerprintz"`, 1)
		},
		"absolute path": func(s string) string {
			return strings.Replace(s, `"uri": "keyaudit/`, `"uri": "/keyaudit/`, 1)
		},
	} {
		bad := mutate(good)
		if bad == good {
			t.Fatalf("%s: the mutation changed nothing", name)
		}
		if len(githubSARIFProblems([]byte(bad))) == 0 {
			t.Errorf("%s: not found", name)
		}
	}
}

// TestSARIFResultLimit: past GitHub's 25,000 results per run, the most
// severe are kept and the run says how many there were.
func TestSARIFResultLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("renders 26,000 findings")
	}
	r := &Report{GeneratedAt: fixedNow, Run: RunInfo{ID: 1, Kind: "reconcile", Status: "complete"}, Rules: fixtureRules()}
	sevs := []reconcile.Severity{reconcile.Low, reconcile.Critical, reconcile.Medium}
	for i := range 26000 {
		r.Findings = append(r.Findings, reconcile.Finding{Check: "weak-crypto", Severity: sevs[i%3], Subject: fmt.Sprintf("CN=host%05d.example.test", i),
			Endpoint: fmt.Sprintf("tls://host%05d.example.test:443", i), Message: "RSA-1024 key"})
	}
	out := render(t, FormatSARIF, r, Options{})
	for _, p := range githubSARIFProblems(out) {
		t.Fatal(p)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				Level string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatal(err)
	}
	res := log.Runs[0].Results
	if len(res) != SARIFMaxResultsPerRun || res[len(res)-1].Level != "note" || res[0].Level != "error" {
		t.Fatalf("%d results, first %s, last %s", len(res), res[0].Level, res[len(res)-1].Level)
	}
	if !bytes.Contains(out, []byte("26000 findings; the 25000 most severe")) {
		t.Error("the run does not say that findings were left out")
	}
}
