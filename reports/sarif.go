package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

// SARIF 2.1.0 (OASIS), the subset keyaudit writes. GitHub code scanning
// reads rules' security-severity and results' partialFingerprints.
const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
	// sarifFingerprintKey versions the fingerprint: a new algorithm needs
	// a new key so old alerts are not all closed and reopened.
	sarifFingerprintKey = "keyauditFinding/v1"
	sarifSrcRoot        = "%SRCROOT%"
)

// GitHub code scanning's documented limits ("SARIF support for code
// scanning" and "SARIF results exceed limits", docs.github.com): a file
// over a hard limit is rejected whole.
const (
	SARIFMaxRuns            = 20
	SARIFMaxResultsPerRun   = 25000
	SARIFMaxRulesPerRun     = 25000
	SARIFMaxTagsPerRule     = 20
	SARIFMaxLocations       = 10 // per result (only the first is used)
	SARIFMaxRuleName        = 255
	SARIFMaxDescription     = 1024 // shortDescription.text, fullDescription.text
	sarifPrimaryLocationKey = "primaryLocationLineHash"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool              sarifTool              `json:"tool"`
	AutomationDetails *sarifAutomation       `json:"automationDetails,omitempty"`
	Invocations       []sarifInvocation      `json:"invocations"`
	OriginalURIBases  map[string]sarifArtLoc `json:"originalUriBaseIds,omitempty"`
	Results           []sarifResult          `json:"results"`
	Properties        map[string]any         `json:"properties,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifAutomation struct {
	ID string `json:"id"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	StartTimeUTC               string              `json:"startTimeUtc,omitempty"`
	EndTimeUTC                 string              `json:"endTimeUtc,omitempty"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level   string    `json:"level"`
	Message sarifText `json:"message"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Suppressions        []sarifSupp       `json:"suppressions,omitempty"`
	Properties          map[string]any    `json:"properties"`
}

type sarifSupp struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
	Message          *sarifText     `json:"message,omitempty"`
	Properties       map[string]any `json:"properties,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtLoc  `json:"artifactLocation"`
	Region           *sarifRegion `json:"region,omitempty"`
}

type sarifArtLoc struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	Name               string `json:"name,omitempty"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind,omitempty"`
}

// sarifLevel maps a severity to a SARIF level: critical and high are
// errors, medium warnings, low and info notes.
func sarifLevel(s reconcile.Severity) string {
	switch s {
	case reconcile.Critical, reconcile.High:
		return "error"
	case reconcile.Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is GitHub's numeric scale (over 9.0 critical, 7.0–8.9
// high, 4.0–6.9 medium, 3.9 or less low). Every rule has one, so GitHub
// ranks every result as a security result; info is the lowest low.
func securitySeverity(s reconcile.Severity) string {
	switch s {
	case reconcile.Critical:
		return "9.5"
	case reconcile.High:
		return "8.0"
	case reconcile.Medium:
		return "5.5"
	case reconcile.Low:
		return "3.0"
	}
	return "0.1"
}

// SARIF writes a SARIF 2.1.0 log for GitHub code scanning and other SARIF
// consumers: one rule per check (from the registry, each with a
// security-severity), one result per finding (at most
// SARIFMaxResultsPerRun, most severe first) with stable partial
// fingerprints and a physical location — the file and line that configure
// what it is about when known, else a synthetic path (SyntheticPath) —
// beside a logical one naming the endpoint, key or log entry.
func SARIF(w io.Writer, r *Report, opts Options) error {
	t := r.tool()
	rules := r.allRules()
	index := map[string]int{}
	run := sarifRun{
		Tool:              sarifTool{Driver: sarifDriver{Name: t.Name, Version: t.Version, InformationURI: t.URI, Rules: []sarifRule{}}},
		AutomationDetails: &sarifAutomation{ID: "keyaudit/"},
		Results:           []sarifResult{},
		Properties:        map[string]any{"run_id": r.Run.ID, "run_kind": r.Run.Kind, "run_status": r.Run.Status},
	}
	if r.Run.Group != "" {
		run.Properties["run_group"] = r.Run.Group
	}
	for i, ru := range rules {
		index[ru.ID] = i
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRuleOf(ru))
	}
	inv := sarifInvocation{ExecutionSuccessful: true, StartTimeUTC: rfc3339(r.Run.Started), EndTimeUTC: rfc3339(r.Run.Ended)}
	for _, st := range r.Run.Stages {
		switch st.Status {
		case StageComplete, StageSkipped:
			continue
		case StageFailed:
			inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{Level: "error", Message: sarifText{Text: "stage " + stageLine(st)}})
		default:
			inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{Level: "warning", Message: sarifText{Text: "stage " + stageLine(st)}})
		}
	}
	usesSrcRoot := false
	fs := r.sortedFindings()
	if len(fs) > SARIFMaxResultsPerRun {
		// Most severe first: what is left out is the least severe.
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{Level: "warning",
			Message: sarifText{Text: fmt.Sprintf("%d findings; the %d most severe are results here (GitHub code scanning rejects a run of more): the json and junit reports have all of them",
				len(fs), SARIFMaxResultsPerRun)}})
		fs = fs[:SARIFMaxResultsPerRun]
	}
	run.Invocations = []sarifInvocation{inv}
	for _, f := range fs {
		fpr := f.Fingerprint()
		res := sarifResult{
			RuleID: f.Check, RuleIndex: index[f.Check], Level: sarifLevel(f.Severity),
			Message: sarifText{Text: sarifMessage(f)},
			// GitHub matches alerts across runs by primaryLocationLineHash;
			// the finding's own fingerprint keeps two findings on one
			// config line apart and an alert in place when the line moves.
			PartialFingerprints: map[string]string{sarifFingerprintKey: fpr, sarifPrimaryLocationKey: fpr[:16] + ":1"},
			Properties:          map[string]any{"severity": string(f.Severity)},
		}
		loc, rel := sarifLocationOf(f, opts)
		usesSrcRoot = usesSrcRoot || rel
		res.Locations = []sarifLocation{loc}
		for k, v := range map[string]string{"subject": f.Subject, "endpoint": f.Endpoint, "spki_sha256": f.SPKISHA256, "cert_sha256": f.CertSHA256, "source": f.Source} {
			if v != "" {
				res.Properties[k] = v
			}
		}
		if len(f.Controls) > 0 {
			res.Properties["controls"] = f.Controls
		}
		if !f.FirstSeen.IsZero() {
			res.Properties["first_seen"] = rfc3339(f.FirstSeen)
		}
		if len(f.Evidence) > 0 {
			res.Properties["evidence"] = f.Evidence
		}
		if f.Suppressed {
			res.Suppressions = []sarifSupp{{Kind: "external", Justification: f.SuppressedBy}}
		}
		run.Results = append(run.Results, res)
	}
	if usesSrcRoot && filepath.IsAbs(opts.BaseDir) {
		run.OriginalURIBases = map[string]sarifArtLoc{sarifSrcRoot: {URI: strings.TrimSuffix(fileURI(opts.BaseDir), "/") + "/"}}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}}); err != nil {
		return fmt.Errorf("reports: sarif: %w", err)
	}
	return nil
}

func sarifRuleOf(ru Rule) sarifRule {
	desc := ru.Description
	if desc == "" {
		desc = ru.ID
	}
	full := desc
	if len(ru.Citations) > 0 {
		full += " (" + strings.Join(ru.Citations, "; ") + ")"
	}
	help := ru.Help
	if help == "" {
		help = desc
	}
	var md strings.Builder
	md.WriteString(help)
	if len(ru.Citations) > 0 {
		md.WriteString("\n\n**References:**\n")
		for _, c := range ru.Citations {
			md.WriteString("\n- " + c)
		}
	}
	if len(ru.Controls) > 0 {
		md.WriteString("\n\n**Compliance controls:** " + strings.Join(ru.Controls, ", "))
	}
	tags := []string{"security", "cryptography"}
	for _, c := range ru.Controls {
		if len(tags) < SARIFMaxTagsPerRule && !slices.Contains(tags, c) {
			tags = append(tags, c)
		}
	}
	props := map[string]any{"tags": tags, "precision": "high", "severity": string(ru.Severity),
		"security-severity": securitySeverity(ru.Severity)}
	if len(ru.Citations) > 0 {
		props["citations"] = ru.Citations
	}
	return sarifRule{
		ID: ru.ID, Name: truncate(ruleName(ru.ID), SARIFMaxRuleName),
		ShortDescription:     sarifText{Text: truncate(firstSentence(desc), SARIFMaxDescription)},
		FullDescription:      sarifText{Text: truncate(full, SARIFMaxDescription)},
		Help:                 sarifText{Text: help, Markdown: md.String()},
		DefaultConfiguration: sarifConfig{Level: sarifLevel(ru.Severity)},
		Properties:           props,
	}
}

// ruleName turns "key-reuse" into "KeyReuse" (SARIF's rule name).
func ruleName(id string) string {
	var b strings.Builder
	for _, p := range strings.FieldsFunc(id, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		b.WriteString(strings.ToUpper(p[:1]) + p[1:])
	}
	return b.String()
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}

func sarifMessage(f reconcile.Finding) string {
	var parts []string
	if f.Subject != "" {
		parts = append(parts, f.Subject)
	}
	if f.Endpoint != "" {
		parts = append(parts, "at "+f.Endpoint)
	}
	msg := f.Message
	if len(parts) > 0 {
		msg = strings.Join(parts, " ") + ": " + msg
	}
	return msg
}

// pathLine matches "path:line" sources (a config or inventory file line).
var pathLine = regexp.MustCompile(`^(.+):([0-9]+)$`)

// sarifLocationOf returns the finding's location and whether it uses
// %SRCROOT% (a relative path). Every location is physical, as GitHub
// code scanning requires: the file and line the finding names (a config
// or ignore file line) when it is in the repository, else the config line
// opts.Locate finds for it, else its synthetic path (see SyntheticPath)
// at line 1. The logical location names the endpoint, key or name.
func sarifLocationOf(f reconcile.Finding, opts Options) (sarifLocation, bool) {
	var art sarifArtLoc
	rel, ok, line := false, false, 0
	if src := f.Source; src != "" && !hasScheme(src) {
		path := src
		if m := pathLine.FindStringSubmatch(src); m != nil {
			path = m[1]
			line, _ = strconv.Atoi(m[2])
		}
		art, rel, ok = artifactLocation(path, opts.BaseDir)
	}
	if !ok && opts.Locate != nil {
		if path, l := opts.Locate(f); path != "" {
			line = l
			art, rel, ok = artifactLocation(path, opts.BaseDir)
		}
	}
	if !ok {
		art, rel, line = sarifArtLoc{URI: SyntheticPath(f)}, false, 1
	}
	if line < 1 {
		line = 1
	}
	loc := sarifLocation{PhysicalLocation: &sarifPhysical{ArtifactLocation: art, Region: &sarifRegion{StartLine: line}},
		LogicalLocations: []sarifLogical{logicalOf(f)}}
	return loc, rel
}

// logicalOf names what the finding is about.
func logicalOf(f reconcile.Finding) sarifLogical {
	lg := sarifLogical{Kind: "resource"}
	switch src := f.Source; {
	case f.Endpoint != "":
		lg.Name, lg.FullyQualifiedName = f.Endpoint, "endpoint/"+f.Endpoint
	case src != "":
		lg.Name, lg.FullyQualifiedName = src, "source/"+src
	case f.SPKISHA256 != "":
		lg.Name, lg.FullyQualifiedName = f.Subject, "key/"+f.SPKISHA256
	case f.CertSHA256 != "":
		lg.Name, lg.FullyQualifiedName = f.Subject, "certificate/"+f.CertSHA256
	default:
		lg.Name, lg.FullyQualifiedName = f.Subject, "subject/"+f.Subject
	}
	if lg.Name == "" {
		lg.Name = lg.FullyQualifiedName
	}
	return lg
}

// hasScheme tells URIs (pkcs11:, https://, arn:) from file paths; a
// Windows drive letter is a path.
func hasScheme(s string) bool {
	i := strings.Index(s, ":")
	if i < 2 {
		return false
	}
	for j, c := range s[:i] {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')
		if !ok {
			return false
		}
	}
	// "path:12" is a file line, not a scheme.
	return !pathLine.MatchString(s) || strings.Contains(s, "://")
}

// artifactLocation makes a SARIF artifact location for a file path in
// the repository: relative paths, and absolute ones under baseDir, against
// %SRCROOT%. A path outside baseDir is not in the repository (ok false).
func artifactLocation(path, baseDir string) (loc sarifArtLoc, rel, ok bool) {
	p := filepath.Clean(path)
	if filepath.IsAbs(p) {
		if baseDir == "" {
			return loc, false, false
		}
		r, err := filepath.Rel(baseDir, p)
		if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return loc, false, false
		}
		p = r
	}
	p = filepath.ToSlash(p)
	if p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return loc, false, false
	}
	return sarifArtLoc{URI: escapePath(p), URIBaseID: sarifSrcRoot}, true, true
}

func fileURI(abs string) string {
	return "file://" + escapePath(filepath.ToSlash(abs))
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		// PathEscape keeps ':', which in a first segment reads as a scheme.
		parts[i] = strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
	}
	return strings.Join(parts, "/")
}
