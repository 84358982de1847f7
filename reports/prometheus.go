package reports

import (
	"bufio"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
)

// FormatPrometheus is the node_exporter textfile-collector format.
const FormatPrometheus = "prometheus"

// Prometheus writes the report as Prometheus text exposition (for the
// node_exporter textfile collector). Certificate metrics reuse the metric
// and label names of x509-certificate-exporter (x509_cert_not_after,
// subject_CN, issuer_CN, serial_number …) so existing dashboards and alerts
// work, and a certificate seen by both joins on (serial_number, issuer_CN);
// keyaudit's own metrics are prefixed keyaudit_.
func Prometheus(w io.Writer, r *Report, opts Options) error {
	bw := bufio.NewWriter(w)
	p := &promWriter{w: bw}

	// One series per served certificate and endpoint.
	type certSeries struct {
		labels string
		c      certinfo.Cert
	}
	var certs []certSeries
	seen := map[string]bool{}
	for _, o := range r.Observations {
		l := o.Leaf()
		if l == nil {
			continue
		}
		labels := promLabels(
			"subject_CN", cnOf(l.Subject), "issuer_CN", cnOf(l.Issuer), "serial_number", serialDecimal(l.Serial),
			"endpoint", o.Protocol+"://"+o.Target, "ip", o.IP, "spki_sha256", l.SPKISHA256)
		if seen[labels] {
			continue
		}
		seen[labels] = true
		certs = append(certs, certSeries{labels, *l})
	}
	sort.Slice(certs, func(i, j int) bool { return certs[i].labels < certs[j].labels })
	p.help("x509_cert_not_after", "gauge", "Certificate notAfter, as a Unix timestamp, per endpoint serving it.")
	for _, c := range certs {
		p.sample("x509_cert_not_after", c.labels, float64(c.c.NotAfter.Unix()))
	}
	p.help("x509_cert_not_before", "gauge", "Certificate notBefore, as a Unix timestamp, per endpoint serving it.")
	for _, c := range certs {
		p.sample("x509_cert_not_before", c.labels, float64(c.c.NotBefore.Unix()))
	}
	p.help("x509_cert_expired", "gauge", "1 when the certificate had expired when the report was generated.")
	for _, c := range certs {
		v := 0.0
		if !r.GeneratedAt.IsZero() && r.GeneratedAt.After(c.c.NotAfter) {
			v = 1
		}
		p.sample("x509_cert_expired", c.labels, v)
	}

	// Findings by severity (unsuppressed), and by check.
	bySev := map[reconcile.Severity]int{}
	byCheck := map[[2]string]int{}
	suppressed := 0
	for _, f := range r.Findings {
		if f.Suppressed {
			suppressed++
			continue
		}
		bySev[f.Severity]++
		byCheck[[2]string{f.Check, string(f.Severity)}]++
	}
	p.help("keyaudit_findings", "gauge", "Unsuppressed findings of the run, by severity.")
	for _, s := range reconcile.Severities {
		p.sample("keyaudit_findings", promLabels("severity", string(s)), float64(bySev[s]))
	}
	p.help("keyaudit_findings_by_check", "gauge", "Unsuppressed findings of the run, by check and severity.")
	keys := make([][2]string, 0, len(byCheck))
	for k := range byCheck {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		p.sample("keyaudit_findings_by_check", promLabels("check", k[0], "severity", k[1]), float64(byCheck[k]))
	}
	p.help("keyaudit_findings_suppressed", "gauge", "Findings of the run matched by a suppression.")
	p.sample("keyaudit_findings_suppressed", "", float64(suppressed))
	failing := 0
	for _, f := range r.Findings {
		if opts.Fails(f) {
			failing++
		}
	}
	p.help("keyaudit_findings_failing", "gauge", "Findings at or above --fail-on (the job fails when this is not 0).")
	p.sample("keyaudit_findings_failing", "", float64(failing))

	// Inputs and stages: a partial audit must be visible on a dashboard.
	p.help("keyaudit_stage_ok", "gauge", "1 when the stage completed, 0 when it was partial or failed (skipped stages are absent).")
	for _, s := range r.Run.Stages {
		if s.Status == StageSkipped {
			continue
		}
		v := 0.0
		if s.Status == StageComplete {
			v = 1
		}
		p.sample("keyaudit_stage_ok", promLabels("stage", s.Name, "status", s.Status), v)
	}
	endpointsByKind := map[string]int{}
	for _, o := range r.Observations {
		k := "ok"
		if o.Error != nil {
			k = string(o.Error.Kind)
		}
		endpointsByKind[k]++
	}
	p.help("keyaudit_endpoints", "gauge", "Scanned endpoints, by outcome (ok or the error kind).")
	kinds := make([]string, 0, len(endpointsByKind))
	for k := range endpointsByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		p.sample("keyaudit_endpoints", promLabels("outcome", k), float64(endpointsByKind[k]))
	}
	p.help("keyaudit_inventory_keys", "gauge", "Inventory objects, by class.")
	byClass := map[string]int{}
	for _, k := range r.Keys {
		byClass[string(k.Class)]++
	}
	classes := make([]string, 0, len(byClass))
	for c := range byClass {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		p.sample("keyaudit_inventory_keys", promLabels("class", c), float64(byClass[c]))
	}
	// Distinct keys, not findings: one unmanaged key served on forty
	// endpoints is one key to bring under management.
	unmanaged := map[string]bool{}
	for _, f := range r.Findings {
		if f.Check == unmanagedKeyCheck && !f.Suppressed && f.SPKISHA256 != "" {
			unmanaged[f.SPKISHA256] = true
		}
	}
	p.help("keyaudit_unmanaged_keys", "gauge", "Distinct keys served on endpoints that no inventory source holds (unsuppressed unmanaged-key findings).")
	p.sample("keyaudit_unmanaged_keys", "", float64(len(unmanaged)))
	p.help("keyaudit_ct_sightings", "gauge", "Certificates for watched names seen in CT logs.")
	p.sample("keyaudit_ct_sightings", "", float64(len(r.Sightings)))
	byLog := map[string]int{}
	for _, s := range r.Sightings {
		byLog[s.Log]++
	}
	logs := make([]string, 0, len(byLog))
	for l := range byLog {
		logs = append(logs, l)
	}
	sort.Strings(logs)
	p.help("keyaudit_ct_sightings_by_log", "gauge", "Certificates for watched names seen in CT logs, by log.")
	for _, l := range logs {
		p.sample("keyaudit_ct_sightings_by_log", promLabels("log", l), float64(byLog[l]))
	}
	if !r.GeneratedAt.IsZero() {
		p.help("keyaudit_report_timestamp_seconds", "gauge", "When the report was generated.")
		p.sample("keyaudit_report_timestamp_seconds", promLabels("run", strconv.FormatInt(r.Run.ID, 10)), float64(r.GeneratedAt.Unix()))
	}
	if p.err != nil {
		return fmt.Errorf("reports: prometheus: %w", p.err)
	}
	return bw.Flush()
}

// unmanagedKeyCheck is the check whose findings keyaudit_unmanaged_keys
// counts.
const unmanagedKeyCheck = "unmanaged-key"

// serialDecimal turns a serial as keyaudit records it (hex, "-" before a
// negative one) into x509-certificate-exporter's form: the serial as a
// signed decimal integer (big.Int's String). A value that is not hex is
// kept as it is rather than dropped.
func serialDecimal(hexSerial string) string {
	digits, neg := strings.CutPrefix(hexSerial, "-")
	if digits == "" || strings.Trim(digits, "0123456789abcdefABCDEF") != "" {
		return hexSerial
	}
	n, _ := new(big.Int).SetString(digits, 16)
	if neg {
		n.Neg(n)
	}
	return n.String()
}

type promWriter struct {
	w   *bufio.Writer
	err error
}

func (p *promWriter) help(name, typ, help string) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
}

func (p *promWriter) sample(name, labels string, v float64) {
	if p.err != nil {
		return
	}
	if labels != "" {
		labels = "{" + labels + "}"
	}
	_, p.err = fmt.Fprintf(p.w, "%s%s %s\n", name, labels, strconv.FormatFloat(v, 'f', -1, 64))
}

// promLabels renders name/value pairs, escaping values per the text
// exposition format (backslash, double quote, newline).
func promLabels(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		v := strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\n' || r == 0x7f {
				return '?' // other control characters: terminal escapes in subjects
			}
			return r
		}, kv[i+1])
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v))
		b.WriteByte('"')
	}
	return b.String()
}
