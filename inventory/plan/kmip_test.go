package plan

import (
	"context"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
)

func TestKMIPBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		sc   SourceConfig
		want string
	}{
		{"with path", SourceConfig{KMIP: "kmip://127.0.0.1:5696", Path: "/a", CertFile: "c", KeyFile: "k"}, "inventory.sources[0]: give one of pkcs11, path or kmip"},
		{"no key", SourceConfig{KMIP: "kmip://127.0.0.1:5696", CertFile: "c"}, "inventory.sources[0]: kmip: needs a client certificate and key"},
		{"bad uri", SourceConfig{KMIP: "kmip://127.0.0.1:5696/x", CertFile: "c", KeyFile: "k"}, "inventory.sources[0]: kmip: "},
	} {
		_, err := New(Config{Section: Section{Sources: []SourceConfig{tc.sc}}})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: New = %v; want an error %q…", tc.name, err, tc.want)
		}
	}
}

// TestPlanKMIP decodes a kmip entry from the config, plans and opens it
// against PyKMIP; the readable key file is warned about.
func TestPlanKMIP(t *testing.T) {
	lab := testlab.StartPyKMIP(t)
	if err := os.Chmod(lab.ClientKey, 0o640); err != nil {
		t.Fatal(err)
	}
	src := "sources:\n- kmip: kmip://" + lab.Addr + "\n  cert-file: " + lab.ClientCert + "\n  key-file: " + lab.ClientKey +
		"\n  ca-file: " + lab.CAFile + "\n  name-rule: {private: [-sk], public: [-pk]}\n  owner: kms-team\n"
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(src), &node); err != nil {
		t.Fatal(err)
	}
	sec, err := DecodeSection(node.Content[0])
	if err != nil {
		t.Fatalf("DecodeSection: %v", err)
	}
	if sc := sec.Sources[0]; len(sc.Names.Private) != 1 || sc.Names.Private[0] != "-sk" {
		t.Errorf("name-rule decoded as %+v", sc.Names)
	}
	var warned []error
	p, err := New(Config{Section: sec, Secrets: secretfile.Policy{Warn: func(err error) { warned = append(warned, err) }}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srcs, err := p.Open(context.Background())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer inventory.CloseAll(srcs)
	if len(srcs) != 1 || srcs[0].Source.Name() != "kmip://"+lab.Addr || srcs[0].Defaults.Owner != "kms-team" {
		t.Fatalf("opened %+v", srcs)
	}
	if len(warned) != 1 || !strings.Contains(warned[0].Error(), lab.ClientKey) {
		t.Errorf("warnings %v, want one naming the key file", warned)
	}
	res := srcs[0].Source.Keys(context.Background(), func(inventory.Key) error { return nil })
	if res.Status != inventory.StatusComplete || res.Keys != 0 {
		t.Errorf("empty server: %+v", res)
	}
}
