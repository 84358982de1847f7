package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestPrometheusParses feeds the output to Prometheus' own text parser and
// checks the series dashboards built for x509-certificate-exporter use.
func TestPrometheusParses(t *testing.T) {
	out := render(t, FormatPrometheus, fixtureReport(), Options{})
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	na, ok := families["x509_cert_not_after"]
	if !ok || len(na.Metric) == 0 {
		t.Fatalf("no x509_cert_not_after series:\n%s", out)
	}
	labels := map[string]bool{}
	for _, l := range na.Metric[0].Label {
		labels[l.GetName()] = true
	}
	for _, want := range []string{"subject_CN", "issuer_CN", "serial_number"} {
		if !labels[want] {
			t.Errorf("x509_cert_not_after lacks label %s", want)
		}
	}
	f := families["keyaudit_findings"]
	if f == nil || len(f.Metric) != 5 {
		t.Fatalf("keyaudit_findings: %v", f)
	}
	if !strings.Contains(string(out), `keyaudit_findings{severity="critical"}`) {
		t.Errorf("no critical findings series:\n%s", out)
	}
	// Label values are escaped per the exposition format.
	if got, want := promLabels("a", "x\"\\\ny"), `a="x\"\\\ny"`; got != want {
		t.Errorf("promLabels = %s, want %s", got, want)
	}
}
