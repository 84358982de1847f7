package stage

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/reconcile"
)

const locatorConfig = `# line 1
watch:
  - example.test
  - .corp.example.test
scan:
  targets:
    - www.example.test
    - smtp://mail.example.test:25
    - 127.0.2.0/24
  ports: 443
inventory:
  sources:
    - pkcs11: "pkcs11:token=hsm%201?module-path=/usr/lib/softhsm/libsofthsm2.so"
      owner: platform
    - paths: [/etc/ssl/inventory]
    - kmip: kmip://127.0.0.1:5696
    - awskms: awskms://eu-west-2
`

func TestConfigLocator(t *testing.T) {
	var cfg map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(locatorConfig), &cfg); err != nil {
		t.Fatal(err)
	}
	loc := ConfigLocator("deploy/keyaudit.yaml", cfg)
	for _, c := range []struct {
		f    reconcile.Finding
		line int
	}{
		{reconcile.Finding{Endpoint: "tls://www.example.test:443 (127.0.1.1)"}, 7},
		{reconcile.Finding{Endpoint: "smtp://mail.example.test:25 (127.0.1.20)"}, 8},
		{reconcile.Finding{Endpoint: "smtp://mail.example.test:587"}, 3}, // not the :25 target: the watched domain
		{reconcile.Finding{Endpoint: "tls://127.0.2.9:8443"}, 9},
		{reconcile.Finding{Endpoint: "tls://db.example.test:443 (127.0.2.200)"}, 9},
		{reconcile.Finding{Endpoint: "tls://vpn.corp.example.test:443 (127.0.3.1)"}, 4}, // the most specific domain
		{reconcile.Finding{Endpoint: "tls://other.test:443 (127.0.3.1)"}, 0},
		{reconcile.Finding{Source: "pkcs11:token=hsm%201;object=www;type=private"}, 13},
		{reconcile.Finding{Source: "pkcs11:token=hsm2;object=www;type=private"}, 0},
		{reconcile.Finding{Source: "/etc/ssl/inventory/www.key"}, 15},
		{reconcile.Finding{Source: "/etc/ssl/inventory-old/www.key"}, 0},
		{reconcile.Finding{Source: "kmip://127.0.0.1:5696/uid-42"}, 16},
		{reconcile.Finding{Source: "arn:aws:kms:eu-west-2:111122223333:key/1234"}, 17},
		{reconcile.Finding{Source: "arn:aws:kms:us-east-1:111122223333:key/1234"}, 0},
		{reconcile.Finding{Check: "caa-missing", Subject: "shop.example.test"}, 3},
		{reconcile.Finding{Check: "unauthorized-issuance", Subject: "www.example.test", Endpoint: "ct://https://ct.example.test/2026h2/424242",
			Source: "https://ct.example.test/2026h2#424242"}, 3},
		{reconcile.Finding{Check: "caa-missing", Subject: "corp.example.test"}, 3}, // .corp covers only subdomains
		{reconcile.Finding{Check: "weak-crypto", Subject: "CN=x"}, 0},
	} {
		path, line := loc(c.f)
		if line != c.line || (line != 0) != (path == "deploy/keyaudit.yaml") {
			t.Errorf("%+v: %s:%d, want line %d", c.f, path, line, c.line)
		}
	}
	if ConfigLocator("", cfg) != nil || ConfigLocator("x.yaml", nil) != nil || ConfigLocator("x.yaml", map[string]yaml.Node{}) != nil {
		t.Error("a locator without a config")
	}
}
