package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/keyaudit/keyaudit/reconcile"
	_ "github.com/keyaudit/keyaudit/reconcile/checks" // the real registry
)

// compileSchema compiles the schema at url from the vendored files
// (testdata/schema), each registered under its own $id so references
// between them resolve offline.
func compileSchema(t *testing.T, url string, files ...string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("testdata", "schema", f))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		fixSARIFErratum(doc)
		id, _ := doc.(map[string]any)["$id"].(string)
		if id == "" {
			t.Fatalf("%s has no $id", f)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile %s: %v", url, err)
	}
	return s
}

// fixSARIFErratum moves the region object's anyOf (startLine, charOffset
// or byteOffset required), which the published 2.1.0 errata schema nests
// inside "properties" by mistake, to where it belongs; as published the
// schema is not a valid 2020-12 schema and no strict validator compiles it.
func fixSARIFErratum(doc any) {
	defs, _ := doc.(map[string]any)["definitions"].(map[string]any)
	region, _ := defs["region"].(map[string]any)
	props, _ := region["properties"].(map[string]any)
	if anyOf, ok := props["anyOf"]; ok {
		delete(props, "anyOf")
		region["anyOf"] = anyOf
	}
}

func validate(t *testing.T, s *jsonschema.Schema, out []byte) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if err := s.Validate(doc); err != nil {
		t.Fatalf("output does not validate against %s:\n%v", s.Location, err)
	}
}

func sarifSchemaOf(t *testing.T) *jsonschema.Schema {
	return compileSchema(t, "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json", "sarif-schema-2.1.0.json")
}

func cdxSchema(t *testing.T) *jsonschema.Schema {
	return compileSchema(t, "http://cyclonedx.org/schema/bom-1.6.schema.json", "bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json")
}

// TestSARIFSchema validates the fixture, the empty report and a report
// with the real check registry's rules against the SARIF 2.1.0 schema.
func TestSARIFSchema(t *testing.T) {
	s := sarifSchemaOf(t)
	validate(t, s, render(t, FormatSARIF, fixtureReport(), Options{}))
	validate(t, s, render(t, FormatSARIF, fixtureReport(), Options{BaseDir: "/srv/audit"}))
	validate(t, s, render(t, FormatSARIF, &Report{GeneratedAt: fixedNow}, Options{}))

	// The schema must also reject: a result without a message.
	bad := []byte(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"a"}]}]}`)
	doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
	if s.Validate(doc) == nil {
		t.Fatal("schema accepted a result without a message: the vendored schema is not doing its job")
	}
}

// TestSARIFContents checks what GitHub code scanning relies on: one rule
// per check with a level and security-severity, results pointing at their
// rule by index, stable partial fingerprints, and locations.
func TestSARIFContents(t *testing.T) {
	r := fixtureReport()
	var log struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID                   string         `json:"id"`
						DefaultConfiguration map[string]any `json:"defaultConfiguration"`
						Properties           map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID              string            `json:"ruleId"`
				RuleIndex           int               `json:"ruleIndex"`
				Level               string            `json:"level"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
				Locations           []struct {
					Physical *struct {
						ArtifactLocation struct {
							URI       string `json:"uri"`
							URIBaseID string `json:"uriBaseId"`
						} `json:"artifactLocation"`
						Region *struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
					Logical []map[string]string `json:"logicalLocations"`
				} `json:"locations"`
				Suppressions []map[string]string `json:"suppressions"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(render(t, FormatSARIF, r, Options{BaseDir: "/etc/ssl"}), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != len(r.allRules()) {
		t.Fatalf("%d rules, want %d", len(run.Tool.Driver.Rules), len(r.allRules()))
	}
	for _, ru := range run.Tool.Driver.Rules {
		if ru.DefaultConfiguration["level"] == "" || ru.Properties["security-severity"] == nil {
			t.Errorf("rule %s lacks level or security-severity", ru.ID)
		}
	}
	fps := map[string]bool{}
	suppressed, inRepo := 0, 0
	synthetic := map[string]bool{}
	for i, res := range run.Results {
		if run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %d: ruleIndex %d is not rule %s", i, res.RuleIndex, res.RuleID)
		}
		fp := res.PartialFingerprints[sarifFingerprintKey]
		if fp == "" || fps[fp] {
			t.Errorf("result %d: fingerprint %q empty or repeated", i, fp)
		}
		fps[fp] = true
		if len(res.Locations) != 1 {
			t.Fatalf("result %d: %d locations", i, len(res.Locations))
		}
		p := res.Locations[0].Physical
		if p == nil || p.Region == nil || p.Region.StartLine < 1 {
			t.Fatalf("result %d: no physical location with a line (GitHub rejects the file)", i)
		}
		if len(res.Locations[0].Logical) == 0 {
			t.Errorf("result %d has no logical location", i)
		}
		switch uri := p.ArtifactLocation.URI; {
		case uri == "keyaudit.yaml":
			if p.Region.StartLine != 42 || p.ArtifactLocation.URIBaseID != sarifSrcRoot {
				t.Errorf("config line location wrong: %+v", p)
			}
			inRepo++
		case uri == "private/legacy.key": // absolute path under BaseDir
			if p.ArtifactLocation.URIBaseID != sarifSrcRoot {
				t.Errorf("path under BaseDir not relative to %%SRCROOT%%: %+v", p)
			}
			inRepo++
		case strings.HasPrefix(uri, "keyaudit/"):
			if p.Region.StartLine != 1 || p.ArtifactLocation.URIBaseID != "" {
				t.Errorf("synthetic location wrong: %+v", p)
			}
			synthetic[uri] = true
		default:
			t.Errorf("unexpected physical location %+v", p)
		}
		suppressed += len(res.Suppressions)
	}
	if inRepo != 2 || suppressed != 1 {
		t.Errorf("locations in the repository %d (want 2), suppressions %d (want 1)", inRepo, suppressed)
	}
	for _, want := range []string{"keyaudit/endpoints/mail.example.test_25", "keyaudit/domains/www.example.test",
		"keyaudit/keys/pkcs11/hsm1/kek-payments/secret-key", "keyaudit/keys/pkcs11/hsm2/backup-signing/private"} {
		if !synthetic[want] {
			t.Errorf("no result at %s (have %v)", want, synthetic)
		}
	}
	// Fingerprints are the findings' own: stable across runs and reorderings.
	for _, f := range r.Findings {
		if !fps[f.Fingerprint()] {
			t.Errorf("no result with the fingerprint of %s/%s", f.Check, f.Subject)
		}
	}
}

// TestCBOMSchema validates the fixture and the empty report against the
// CycloneDX 1.6 schema.
func TestCBOMSchema(t *testing.T) {
	s := cdxSchema(t)
	validate(t, s, render(t, FormatCBOM, fixtureReport(), Options{}))
	validate(t, s, render(t, FormatCBOM, &Report{GeneratedAt: fixedNow}, Options{}))
	bad := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"cryptographic-asset","name":"x","cryptoProperties":{"assetType":"related-crypto-material","relatedCryptoMaterialProperties":{"state":"sleepy"}}}]}`)
	doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
	if s.Validate(doc) == nil {
		t.Fatal("schema accepted an invalid key state: the vendored schema is not doing its job")
	}
}

// TestCBOMContents checks what the schema cannot: every certificate and
// key is a cryptographic-asset with the properties the issue asks for,
// and every reference points at a component of the BOM.
func TestCBOMContents(t *testing.T) {
	var bom struct {
		SpecVersion string `json:"specVersion"`
		Components  []struct {
			Ref      string                      `json:"bom-ref"`
			Type     string                      `json:"type"`
			Name     string                      `json:"name"`
			Hashes   []map[string]string         `json:"hashes"`
			Evidence struct{ Occurrences []any } `json:"evidence"`
			Crypto   map[string]any              `json:"cryptoProperties"`
			Props    []map[string]string         `json:"properties"`
		} `json:"components"`
	}
	if err := json.Unmarshal(render(t, FormatCBOM, fixtureReport(), Options{}), &bom); err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != "1.6" {
		t.Fatalf("specVersion %q", bom.SpecVersion)
	}
	refs := map[string]bool{}
	for _, c := range bom.Components {
		refs[c.Ref] = true
	}
	certs, keys := 0, 0
	states := map[string]bool{}
	for _, c := range bom.Components {
		if c.Type != "cryptographic-asset" {
			t.Errorf("%s: type %q", c.Ref, c.Type)
		}
		switch {
		case c.Crypto["certificateProperties"] != nil:
			certs++
			cp := c.Crypto["certificateProperties"].(map[string]any)
			want := []string{"subjectName", "issuerName", "notValidBefore", "notValidAfter", "subjectPublicKeyRef"}
			if !slices.ContainsFunc(c.Props, func(p map[string]string) bool { return p["name"] == "keyaudit:role" && p["value"] == "precertificate" }) {
				// A CT sighting does not carry the signature algorithm.
				want = append(want, "signatureAlgorithmRef")
			}
			for _, k := range want {
				if cp[k] == nil || cp[k] == "" {
					t.Errorf("certificate %s lacks %s", c.Name, k)
				}
			}
			for _, k := range []string{"signatureAlgorithmRef", "subjectPublicKeyRef"} {
				if ref, _ := cp[k].(string); ref != "" && !refs[ref] {
					t.Errorf("certificate %s: %s %q is no component", c.Name, k, ref)
				}
			}
			if len(c.Hashes) != 1 || c.Hashes[0]["alg"] != "SHA-256" || len(c.Hashes[0]["content"]) != 64 {
				t.Errorf("certificate %s hashes %v", c.Name, c.Hashes)
			}
			if len(c.Evidence.Occurrences) == 0 {
				t.Errorf("certificate %s: no occurrences", c.Name)
			}
		case c.Crypto["relatedCryptoMaterialProperties"] != nil:
			rp := c.Crypto["relatedCryptoMaterialProperties"].(map[string]any)
			if ref, _ := rp["algorithmRef"].(string); ref != "" && !refs[ref] {
				t.Errorf("key %s: algorithmRef %q is no component", c.Name, ref)
			}
			if rp["type"] == "public-key" {
				continue
			}
			keys++
			st, _ := rp["state"].(string)
			states[st] = true
			sb, _ := rp["securedBy"].(map[string]any)
			if sb["mechanism"] == nil || rp["size"] == nil {
				t.Errorf("key %s lacks securedBy or size: %v", c.Name, rp)
			}
			if len(c.Evidence.Occurrences) == 0 {
				t.Errorf("key %s: no occurrences", c.Name)
			}
		}
	}
	// The fixture has 7 distinct certificates (3 in a chain, mail, legacy,
	// api, the rogue precertificate) and 6 inventory keys besides the
	// certificate object.
	if certs != 7 || keys != 6 {
		t.Errorf("%d certificates, %d keys; want 7 and 6", certs, keys)
	}
	for _, s := range []string{StateActive, StatePreActivation, StateDeactivated} {
		if !states[s] {
			t.Errorf("no key in state %s (states %v)", s, states)
		}
	}
}

// TestSARIFRegistryRules validates SARIF whose rules come from the real
// check registry, as `keyaudit report` writes it.
func TestSARIFRegistryRules(t *testing.T) {
	r := fixtureReport()
	r.Rules = RulesFromChecks(reconcile.Checks())
	if len(r.Rules) < 10 {
		t.Fatalf("only %d checks registered", len(r.Rules))
	}
	for _, ru := range r.Rules {
		if ru.Description == "" || ru.Help == "" || ru.Severity.Rank() < 0 {
			t.Errorf("check %s lacks metadata a SARIF rule needs: %+v", ru.ID, ru)
		}
	}
	validate(t, sarifSchemaOf(t), render(t, FormatSARIF, r, Options{}))
}
