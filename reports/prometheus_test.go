package reports

import (
	"bytes"
	"crypto/x509"
	"math/big"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/internal/certinfo"

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

// x509-certificate-exporter writes serial_number as the decimal big.Int
// (crypto/x509's SerialNumber.String()); keyaudit's must be the same
// string for the two to join.
func TestPrometheusSerialDecimal(t *testing.T) {
	for _, serial := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(0x7a3f), big.NewInt(-1), big.NewInt(-0x1234),
		new(big.Int).Lsh(big.NewInt(0x5eed), 140)} {
		tmpl := &x509.Certificate{SerialNumber: serial}
		c := certinfo.Cert{Serial: hexOf(serial)}
		if got, want := serialDecimal(c.Serial), tmpl.SerialNumber.String(); got != want {
			t.Errorf("serial %s (recorded %q): serial_number %q, want %q", serial, c.Serial, got, want)
		}
	}
	for _, odd := range []string{"", "-", "+1", "0x10", "zz", "--1"} {
		if got := serialDecimal(odd); got != odd {
			t.Errorf("serialDecimal(%q) = %q, want it kept", odd, got)
		}
	}
	out := string(render(t, FormatPrometheus, fixtureReport(), Options{}))
	for _, want := range []string{`serial_number="31295"`, `serial_number="-1"`, `serial_number="939"`, `serial_number="153"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
}

// hexOf records a serial as certinfo does (Raw only keys its cache).
func hexOf(n *big.Int) string {
	return certinfo.ParseX509(&x509.Certificate{Raw: []byte("serial " + n.String()), SerialNumber: n}).Serial
}
