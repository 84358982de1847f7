package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/reconcile"
)

// FuzzParse: no input makes the loader, the checker or the ignore-file
// parser panic, and a parsed file's sections decode or fail cleanly.
func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob("../../examples/*.yaml")
	if len(examples) == 0 {
		f.Fatal("no examples/*.yaml to seed from")
	}
	for _, p := range examples {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("- check: test-check\n  subject: x\n  reason: r\n  until: 2099-01-01T00:00:00Z\n"))
	f.Add([]byte("scan:\n  ports: [443, {a: 1}]\nstore: &a [*a]\n"))
	f.Add([]byte("policy:\n  min_rsa_bits: 3072\n  stale-after: 30d\n  cryptoperiods: {key_transport: 2y}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = config.ParseIgnoreFile(b, "fuzz.yaml")
		file, err := config.Parse(b)
		if err != nil {
			return
		}
		_, _ = file.Normalize(map[string]reflect.Type{"policy": reflect.TypeFor[reconcile.Policy](), "suppressions": reflect.TypeFor[[]reconcile.Suppression]()})
		file.Check(schema())
		for _, k := range file.Keys() {
			var v any
			_ = file.Section(k, &v)
			fs, _, _, _ := flags()
			_ = file.ApplySection(fs, k)
		}
	})
}

func TestExamplesCheck(t *testing.T) {
	examples, _ := filepath.Glob("../../examples/*.yaml")
	for _, p := range examples {
		if _, err := config.Load(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
