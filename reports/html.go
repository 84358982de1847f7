package reports

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/keyaudit/keyaudit/reconcile"
)

var (
	//go:embed html/report.html.tmpl
	htmlTemplate string
	//go:embed html/report.css
	htmlCSS string
	//go:embed html/report.js
	htmlJS string
)

// htmlTmpl is parsed on first use, not at every start of the program (a
// few milliseconds that a scan or a CT sync would pay for nothing).
var htmlTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"upper": strings.ToUpper,
		"short": short,
		"host":  hostHTML,
	}).Parse(htmlTemplate))
})

// hostHTML escapes s (a host name, an endpoint, a distinguished name)
// as fragments that do not wrap — each label with the . / : , or space
// after it, each "(…" — with a line break offered (<wbr>) between them:
// a narrow column wraps a host name between its labels, never inside
// one (not even after a hyphen). A fragment longer than a DNS label may
// wrap anywhere, so hostile input cannot widen the page.
func hostHTML(s string) template.HTML {
	var b strings.Builder
	b.WriteString(`<span class="host">`)
	frag := func(f string) {
		if f == "" {
			return
		}
		if len(f) > maxLabel {
			b.WriteString(template.HTMLEscapeString(f))
		} else {
			b.WriteString(`<span class="hl">` + template.HTMLEscapeString(f) + `</span>`)
		}
		b.WriteString("<wbr>")
	}
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', '/', ':', ',', ' ':
			frag(s[start : i+1])
			start = i + 1
		case '(':
			frag(s[start:i])
			start = i
		}
	}
	frag(s[start:])
	b.WriteString("</span>")
	return template.HTML(b.String())
}

// maxLabel is the longest DNS label (RFC 1035 §2.3.4).
const maxLabel = 63

// cspHash is the CSP source expression allowing exactly one inline
// element's text.
func cspHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}

// htmlPolicy forbids every load (no network, no external script, style,
// font or image) and runs only the report's own script and style: the
// page shows attacker-controlled strings, escaped, and even a slip in
// escaping could not run or fetch anything.
var htmlPolicy = "default-src 'none'; img-src data:; style-src " + cspHash(htmlCSS) + "; script-src " + cspHash(htmlJS) +
	"; base-uri 'none'; form-action 'none'"

type htmlData struct {
	Title      string
	Tool       Tool
	Run        RunInfo
	Generated  string
	GenDate    string
	S          Summary
	Verdict    string
	VerdictCls string
	Incomplete []Stage
	Severities []sevCard

	SeverityChart barChart
	ControlChart  barChart
	KeyChart      barChart
	IssuerChart   barChart
	Timeline      timeline

	Findings   []htmlFinding
	Resolved   []htmlResolved
	Compliance []htmlFramework
	// Matrix maps each finding (a row) to the controls (columns) of
	// Compliance: evidence is shown once, with the finding.
	Matrix    []htmlMatrixRow
	Keys      []htmlKey
	Certs     []htmlCert
	Endpoints []htmlEndpoint
	CAA       []htmlCAA
	Sightings []htmlSighting
	Rules     []htmlRule

	CSP string
	CSS template.CSS
	JS  template.JS
}

type sevCard struct {
	Name  string
	Count int
}

type htmlFinding struct {
	ID           string
	Severity     string
	Rank         int
	Check        string
	Subject      string
	Endpoint     string
	Message      string
	FirstSeen    string
	Suppressed   bool
	SuppressedBy string
	Fails        bool
	Controls     []string
	Evidence     [][2]string
	SPKI         string
	Cert         string
	Source       string
	Fingerprint  string
	// Fix is what to do, from the check's help.
	Fix string
}

// htmlMatrixRow is a finding and, per control of the compliance
// matrix's columns, whether it maps there.
type htmlMatrixRow struct {
	htmlFinding
	Cells []bool
}

type htmlResolved struct {
	Check, Subject, Endpoint, Evidence string
}

type htmlFramework struct {
	Name     string
	Open     int
	Controls []htmlControl
}

type htmlControl struct {
	Control
	Open       int
	Suppressed int
	Findings   []htmlFinding
}

type htmlKey struct {
	Label, Source, Class, Algorithm, Owner, Purpose, Created, Expires, State, Stored string
	Sensitive, Extractable, Usage, SPKI, Location                                    string
}

type htmlCert struct {
	Subject, Issuer, NotBefore, NotAfter, Key, SigAlg, SHA256, SPKI string
	DaysLeft                                                        int
	Class                                                           string
	Seen                                                            []string
	Role                                                            string
}

type htmlEndpoint struct {
	Endpoint, IP, TLS, Leaf, NotAfter, Key, Error, ErrorKind string
	OK                                                       bool
}

type htmlCAA struct {
	Name, CA, Relevant, Decision, Records, Error string
}

type htmlSighting struct {
	Log, Names, Issuer, Logged, NotAfter, Kind, Cert string
	Index                                            uint64
}

type htmlRule struct {
	ID, Severity, Description, Help, Citations, Controls string
}

// HTML writes one self-contained page (no external script, style, font or
// image; a Content-Security-Policy forbids any load) for compliance
// reviewers: verdict and stages, inline SVG charts, sortable and
// filterable tables of findings, keys, certificates and endpoints, and a
// compliance section mapping each finding to PCI DSS 4.0, NIST SP 800-57,
// HIPAA §164.312 and GDPR Art. 32 with its evidence. It prints cleanly.
func HTML(w io.Writer, r *Report, opts Options) error {
	s := Summarize(r, opts)
	certs := certificates(r)
	d := htmlData{
		Title: "keyaudit report", Tool: r.tool(), Run: r.Run, Generated: fmtTime(r.GeneratedAt), GenDate: fmtDate(r.GeneratedAt),
		S: s, Verdict: verdict(s),
		SeverityChart: severityChart(s), ControlChart: controlChart(r.Findings),
		KeyChart: keyChart(r, certs), IssuerChart: issuerChart(certs), Timeline: expiryTimeline(certs, r.GeneratedAt),
		CSP: htmlPolicy, CSS: template.CSS(htmlCSS), JS: template.JS(htmlJS),
	}
	switch {
	case s.FailOn == string(FailNone):
		d.VerdictCls = "verdict-none"
	case s.Failed:
		d.VerdictCls = "verdict-fail"
	default:
		d.VerdictCls = "verdict-pass"
	}
	for _, st := range r.Run.Stages {
		if st.Status != StageComplete && st.Status != StageSkipped {
			d.Incomplete = append(d.Incomplete, st)
		}
	}
	if r.Run.Status != "" && r.Run.Status != StageComplete && len(d.Incomplete) == 0 {
		d.Incomplete = append(d.Incomplete, Stage{Name: r.Run.Kind, RunID: r.Run.ID, Status: r.Run.Status, Note: r.Run.Note})
	}
	for _, sev := range reconcile.Severities {
		d.Severities = append(d.Severities, sevCard{string(sev), s.BySeverity.Of(sev)})
	}
	fixes := map[string]string{}
	for _, ru := range r.allRules() {
		fixes[ru.ID] = ru.Help
	}
	for _, f := range r.sortedFindings() {
		hf := htmlFindingOf(f, opts)
		hf.Fix = fixes[f.Check]
		d.Findings = append(d.Findings, hf)
	}
	for _, t := range r.Resolved {
		d.Resolved = append(d.Resolved, htmlResolved{Check: t.Finding.Check, Subject: t.Finding.Subject, Endpoint: t.Finding.Endpoint, Evidence: ResolutionText(t)})
	}
	for _, fw := range compliance(r.sortedFindings()) {
		hf := htmlFramework{Name: fw.Name, Open: fw.Open}
		for _, c := range fw.Controls {
			hc := htmlControl{Control: c.Control, Open: c.Open, Suppressed: c.Suppressed}
			for _, f := range c.Findings {
				hc.Findings = append(hc.Findings, htmlFindingOf(f, opts))
			}
			hf.Controls = append(hf.Controls, hc)
		}
		d.Compliance = append(d.Compliance, hf)
	}
	for _, f := range d.Findings {
		row := htmlMatrixRow{htmlFinding: f}
		for _, fw := range d.Compliance {
			for _, c := range fw.Controls {
				row.Cells = append(row.Cells, slices.Contains(f.Controls, c.ID))
			}
		}
		d.Matrix = append(d.Matrix, row)
	}
	for _, k := range sortedKeys(r.Keys) {
		d.Keys = append(d.Keys, htmlKey{Label: k.Label, Source: keySourceName(k), Class: string(k.Class), Algorithm: keyAlgorithm(k),
			Owner: k.Owner, Purpose: k.Purpose, Created: keyCreated(k), Expires: fmtDatePtr(k.EndDate),
			State: KeyState(k, r.GeneratedAt, r.Findings), Stored: KeyStorage(k), Sensitive: triState(k.Sensitive), Extractable: triState(k.Extractable),
			Usage: usage(k), SPKI: k.SPKISHA256, Location: keyLocation(k)})
	}
	for _, c := range certs {
		hc := htmlCert{Subject: c.Cert.Subject, Issuer: c.Cert.Issuer, NotBefore: fmtDate(c.Cert.NotBefore), NotAfter: fmtDate(c.Cert.NotAfter),
			Key: certAlgorithm(c.Cert), SigAlg: c.Cert.SignatureAlgorithm, SHA256: c.Cert.SHA256, SPKI: c.Cert.SPKISHA256, Seen: c.Seen(), Role: "chain"}
		if c.Leaf {
			hc.Role = "leaf"
		}
		if c.Precert {
			hc.Role = "precertificate"
		}
		if !c.Cert.NotAfter.IsZero() {
			hc.DaysLeft = int(c.Cert.NotAfter.Sub(r.GeneratedAt).Hours() / 24)
			switch left := c.Cert.NotAfter.Sub(r.GeneratedAt); {
			case left < 0:
				hc.Class = "exp-expired"
			case left <= tlSoon:
				hc.Class = "exp-soon"
			}
		}
		d.Certs = append(d.Certs, hc)
	}
	for _, o := range sortedObservations(r.Observations) {
		he := htmlEndpoint{Endpoint: o.Protocol + "://" + o.Target, IP: o.IP, TLS: endpointTLS(o), OK: o.Error == nil}
		if l := o.Leaf(); l != nil {
			he.Leaf, he.NotAfter, he.Key = l.Subject, fmtDate(l.NotAfter), certAlgorithm(*l)
		}
		if o.Error != nil {
			he.ErrorKind, he.Error = string(o.Error.Kind), o.Error.Message
		}
		d.Endpoints = append(d.Endpoints, he)
	}
	for _, c := range r.CAA {
		hc := htmlCAA{Name: c.Name, CA: c.CA, Relevant: c.RelevantName, Decision: c.Reason}
		var recs []string
		for _, rec := range c.Records {
			recs = append(recs, evidenceValue(rec))
		}
		hc.Records = strings.Join(recs, "; ")
		if c.Error != nil {
			hc.Error = string(c.Error.Kind) + ": " + c.Error.Message
		}
		d.CAA = append(d.CAA, hc)
	}
	for _, sg := range r.Sightings {
		kind := "certificate"
		if sg.Precert {
			kind = "precertificate"
		}
		d.Sightings = append(d.Sightings, htmlSighting{Log: sg.Log, Index: sg.Index, Names: strings.Join(sg.Names, ", "), Issuer: sg.Issuer,
			Logged: fmtTime(sg.Timestamp), NotAfter: fmtDate(sg.NotAfter), Kind: kind, Cert: sg.CertSHA256})
	}
	for _, ru := range r.allRules() {
		d.Rules = append(d.Rules, htmlRule{ID: ru.ID, Severity: string(ru.Severity), Description: ru.Description, Help: ru.Help,
			Citations: strings.Join(ru.Citations, "; "), Controls: strings.Join(ru.Controls, "; ")})
	}
	if err := htmlTmpl().Execute(controlFilter{w}, d); err != nil {
		return fmt.Errorf("reports: html: %w", err)
	}
	return nil
}

func htmlFindingOf(f reconcile.Finding, opts Options) htmlFinding {
	return htmlFinding{
		ID: "f-" + f.Fingerprint(), Severity: string(f.Severity), Rank: f.Severity.Rank(), Check: f.Check, Subject: f.Subject,
		Endpoint: f.Endpoint, Message: f.Message, FirstSeen: fmtDate(f.FirstSeen), Suppressed: f.Suppressed, SuppressedBy: f.SuppressedBy,
		Fails: opts.Fails(f), Controls: f.Controls, Evidence: evidenceList(f.Evidence), SPKI: f.SPKISHA256, Cert: f.CertSHA256,
		Source: f.Source, Fingerprint: f.Fingerprint(),
	}
}

// controlFilter replaces C0 control characters other than tab, newline
// and carriage return (a terminal escape in a certificate subject) with
// U+FFFD: html/template escapes markup, not controls, and HTML forbids
// them.
type controlFilter struct{ w io.Writer }

func (c controlFilter) Write(p []byte) (int, error) {
	isControl := func(b byte) bool { return b < 0x20 && b != '\t' && b != '\n' && b != '\r' || b == 0x7f }
	if bytes.IndexFunc(p, func(r rune) bool { return r < 0x80 && isControl(byte(r)) }) < 0 {
		return c.w.Write(p)
	}
	clean := make([]byte, 0, len(p)+8)
	for _, b := range p {
		if isControl(b) {
			clean = append(clean, "\uFFFD"...)
		} else {
			clean = append(clean, b)
		}
	}
	if _, err := c.w.Write(clean); err != nil {
		return 0, err
	}
	return len(p), nil
}
