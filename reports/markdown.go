package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
)

// Markdown writes a report for pull requests and tickets (GitHub
// flavoured): verdict, counts, stages, findings with their evidence, the
// key inventory and the endpoints. Every value from the outside is
// escaped: a certificate subject cannot add links, mentions or HTML.
// With Options.Summary it writes MarkdownSummary instead.
func Markdown(w io.Writer, r *Report, opts Options) error {
	if opts.Summary {
		return MarkdownSummary(w, r, opts)
	}
	s := Summarize(r, opts)
	ew := &errWriter{w: w}
	p := ew.printf
	p("# keyaudit report\n\n")
	p("**%s** · run %d (%s, %s", md(verdict(s)), r.Run.ID, md(r.Run.Kind), md(r.Run.Status))
	if r.Run.Group != "" {
		p(", group %s", md(r.Run.Group))
	}
	p(") · generated %s\n\n", fmtTime(r.GeneratedAt))
	if s.Incomplete {
		p("> [!WARNING]\n> Some inputs were not complete, so the absence of a finding is not evidence of compliance:")
		for _, st := range r.Run.Stages {
			if st.Status != StageComplete && st.Status != StageSkipped {
				p(" %s.", md(stageLine(st)))
			}
		}
		p("\n\n")
	}
	p("| Critical | High | Medium | Low | Info | Suppressed |\n|---:|---:|---:|---:|---:|---:|\n")
	p("| %d | %d | %d | %d | %d | %d |\n\n", s.BySeverity.Critical, s.BySeverity.High, s.BySeverity.Medium, s.BySeverity.Low, s.BySeverity.Info, s.Suppressed)

	if len(r.Run.Stages) > 0 {
		p("## Stages\n\n| Stage | Status | Run | Note |\n|---|---|---:|---|\n")
		for _, st := range r.Run.Stages {
			run := ""
			if st.RunID != 0 {
				run = strconv.FormatInt(st.RunID, 10)
			}
			p("| %s | %s | %s | %s |\n", md(st.Name), md(st.Status), run, md(st.Note))
		}
		p("\n")
	}

	fs := r.sortedFindings()
	p("## Findings (%d)\n\n", len(fs))
	if len(fs) == 0 {
		p("No findings.\n\n")
	} else {
		p("| Severity | Check | Subject | Endpoint | Message |\n|---|---|---|---|---|\n")
		for _, f := range fs {
			sev := "**" + string(f.Severity) + "**"
			if f.Suppressed {
				sev = string(f.Severity) + " (suppressed)"
			}
			p("| %s | `%s` | %s | %s | %s |\n", sev, mdCode(f.Check), md(f.Subject), md(f.Endpoint), md(f.Message))
		}
		p("\n<details><summary>Evidence, controls and fingerprints</summary>\n\n")
		for _, f := range fs {
			p("- `%s` %s — %s\n", mdCode(f.Check), md(f.Subject), md(f.Message))
			if len(f.Controls) > 0 {
				p("  - controls: %s\n", md(strings.Join(f.Controls, "; ")))
			}
			for _, kv := range evidenceList(f.Evidence) {
				p("  - %s: %s\n", md(kv[0]), md(kv[1]))
			}
			for _, kv := range [][2]string{{"spki_sha256", f.SPKISHA256}, {"cert_sha256", f.CertSHA256}, {"source", f.Source}, {"suppressed", f.SuppressedBy}} {
				if kv[1] != "" {
					p("  - %s: %s\n", kv[0], md(kv[1]))
				}
			}
			p("  - first seen %s · fingerprint `%s`\n", fmtDate(f.FirstSeen), f.Fingerprint())
		}
		p("\n</details>\n\n")
	}

	if len(r.Resolved) > 0 {
		p("## Resolved since the last audit (%d)\n\n| Check | Subject | Endpoint | Evidence |\n|---|---|---|---|\n", len(r.Resolved))
		for _, t := range r.Resolved {
			p("| `%s` | %s | %s | %s |\n", mdCode(t.Finding.Check), md(t.Finding.Subject), md(t.Finding.Endpoint), md(ResolutionText(t)))
		}
		p("\n")
	}

	keys := sortedKeys(r.Keys)
	p("## Key inventory (%d)\n\n", len(keys))
	if len(keys) > 0 {
		p("| Source | Label | Class | Algorithm | Owner | Purpose | Created | State | Stored | SPKI SHA-256 |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, k := range keys {
			spki := ""
			if k.SPKISHA256 != "" {
				spki = "`" + short(k.SPKISHA256, 16) + "`"
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", md(keySourceName(k)), md(k.Label), md(string(k.Class)), md(keyAlgorithm(k)),
				md(k.Owner), md(k.Purpose), keyCreated(k), KeyState(k, r.GeneratedAt, r.Findings), KeyStorage(k), spki)
		}
		p("\n")
	}

	obs := sortedObservations(r.Observations)
	p("## Endpoints (%d, %d failed)\n\n", len(obs), s.EndpointsBad)
	if len(obs) > 0 {
		p("| Endpoint | IP | TLS | Leaf subject | Not after | Key | Error |\n|---|---|---|---|---|---|---|\n")
		for _, o := range obs {
			leaf, na, key := "", "", ""
			if l := o.Leaf(); l != nil {
				leaf, na, key = l.Subject, fmtDate(l.NotAfter), certAlgorithm(*l)
			}
			p("| %s | %s | %s | %s | %s | %s | %s |\n", md(o.Protocol+"://"+o.Target), md(o.IP), md(endpointTLS(o)), md(leaf), na, md(key), md(endpointError(o)))
		}
		p("\n")
	}
	t := r.tool()
	p("<sub>%s %s · fail-on %s · report schema %s</sub>\n", md(t.Name), md(t.Version), md(s.FailOn), SchemaVersion)
	return ew.err
}

// md escapes text for a Markdown table cell or list item: Markdown
// punctuation is backslash-escaped; HTML, URLs and GitHub's references
// (@mention, #123) are neutralised with entities; line breaks become
// spaces.
func md(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f:
			b.WriteRune('\uFFFD')
		case strings.ContainsRune("\\`*_{}[]()!|~", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '@':
			b.WriteString("&#64;")
		case r == '#':
			b.WriteString("&#35;")
		default:
			b.WriteRune(r)
		}
	}
	// Break autolinks (https://…) without changing the rendered text.
	return strings.ReplaceAll(b.String(), "://", "&#58;//")
}

// mdCode makes s safe inside a single-backtick code span.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "\n", " ", "|", "\\|").Replace(s)
}

// evidenceList renders a finding's evidence as sorted key/value pairs,
// leaving out empty strings.
func evidenceList(ev map[string]any) [][2]string {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		if v := evidenceValue(ev[k]); v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

func evidenceValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return rfc3339(t)
		}
		return x
	case time.Time:
		return rfc3339(x)
	case *time.Time:
		if x == nil {
			return "none"
		}
		return rfc3339(*x)
	case bool:
		return strconv.FormatBool(x)
	case *bool:
		return flagOr(x, "unknown")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case []string:
		return strings.Join(x, ", ")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = evidenceValue(e)
		}
		return strings.Join(parts, ", ")
	case reconcile.Severity:
		return string(x)
	case fmt.Stringer:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func flagOr(b *bool, unknown string) string {
	if b == nil {
		return unknown
	}
	return strconv.FormatBool(*b)
}
