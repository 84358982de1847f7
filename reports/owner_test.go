package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/reconcile"
)

func TestOwnerLine(t *testing.T) {
	fs := []reconcile.Finding{{Owner: "web"}, {Owner: "web"}, {Owner: "pay"}, {}, {Owner: "pay", Suppressed: true}}
	if got := OwnerLine(fs); got != "by owner: web 2, pay 1, no owner 1" {
		t.Errorf("OwnerLine = %q", got)
	}
	if got := OwnerLine([]reconcile.Finding{{}, {}}); got != "" {
		t.Errorf("no owners: %q", got)
	}
	var b bytes.Buffer
	s, err := NewFindingStream(&b, FormatTable)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		f.Check, f.Severity = "weak-key", reconcile.High
		s.Write(f)
	}
	s.Close()
	if !strings.Contains(b.String(), "by owner: web 2, pay 1, no owner 1") {
		t.Errorf("table summary:\n%s", b.String())
	}
}
