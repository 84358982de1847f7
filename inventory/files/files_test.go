package files

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/inventory"
)

const fixtures = "../../testdata/inventory"

type expect struct {
	File    string `json:"file"`
	Class   string `json:"class"`
	SPKI    string `json:"spki_sha256"`
	KeyType string `json:"key_type"`
	KeyBits int    `json:"key_bits"`
	Curve   string `json:"curve"`
	Label   string `json:"label"`
	Owner   string `json:"owner"`
	Purpose string `json:"purpose"`
}

func loadExpected(t *testing.T) []expect {
	b, err := os.ReadFile(filepath.Join(fixtures, "expected.json"))
	if err != nil {
		t.Fatalf("%v (run go generate ./inventory/files)", err)
	}
	var ex []expect
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatal(err)
	}
	return ex
}

func password(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(fixtures, "bundle.p12.password"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func listAll(t *testing.T, cfg Config) ([]inventory.Key, inventory.Result) {
	t.Helper()
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var keys []inventory.Key
	res := s.Keys(context.Background(), func(k inventory.Key) error { keys = append(keys, k); return nil })
	return keys, res
}

func TestFixtures(t *testing.T) {
	keys, res := listAll(t, Config{Paths: []string{fixtures}, Password: password(t)})
	if res.Status != inventory.StatusComplete {
		t.Fatalf("result %+v", res)
	}
	ex := loadExpected(t)
	used := make([]bool, len(keys))
	for _, e := range ex {
		found := false
		for i, k := range keys {
			if used[i] || filepath.Base(k.Path) != e.File || string(k.Class) != e.Class || k.SPKISHA256 != e.SPKI {
				continue
			}
			if e.Label != "" && k.Label != e.Label {
				continue
			}
			used[i], found = true, true
			if k.KeyType != e.KeyType || k.KeyBits != e.KeyBits || k.Curve != e.Curve {
				t.Errorf("%s %s: %s/%d/%q, want %s/%d/%q", e.File, e.Class, k.KeyType, k.KeyBits, k.Curve, e.KeyType, e.KeyBits, e.Curve)
			}
			if k.Owner != e.Owner || k.Purpose != e.Purpose {
				t.Errorf("%s: owner/purpose %q/%q, want %q/%q", e.File, k.Owner, k.Purpose, e.Owner, e.Purpose)
			}
			break
		}
		if !found {
			t.Errorf("missing: %+v", e)
		}
	}
	for i, k := range keys {
		if !used[i] && k.Class != inventory.ClassPrivateKey {
			t.Errorf("unexpected key: %s %s %s", filepath.Base(k.Path), k.Class, k.Label)
		}
		if k.Ref == "" || k.Path == "" || k.Source == "" || k.Usage == nil {
			t.Errorf("%s: ref %q path %q source %q usage %v", k.Label, k.Ref, k.Path, k.Source, k.Usage)
		}
	}
	// The encrypted key is listed without a public half.
	var enc *inventory.Key
	for i := range keys {
		if filepath.Base(keys[i].Path) == "encrypted-private.pem" {
			enc = &keys[i]
		}
	}
	if enc == nil || enc.SPKISHA256 != "" || enc.Class != inventory.ClassPrivateKey {
		t.Errorf("encrypted key: %+v", enc)
	}
}

func TestPairingAcrossFiles(t *testing.T) {
	keys, _ := listAll(t, Config{Paths: []string{fixtures}, Password: password(t)})
	for _, k := range keys {
		if filepath.Base(k.Path) == "bundle.p12" && k.Class == inventory.ClassPrivateKey {
			classes := map[inventory.Class]bool{}
			for _, p := range k.PairedWith {
				classes[p.Class] = true
			}
			if !classes[inventory.ClassCertificate] || !classes[inventory.ClassPublicKey] {
				t.Errorf("bundle.p12 key paired with %+v; want the certificates and the JWK public key", k.PairedWith)
			}
			if k.IDMismatch {
				t.Errorf("files have no CKA_ID: no mismatch expected")
			}
		}
	}
}

func TestCloudFields(t *testing.T) {
	keys, _ := listAll(t, Config{Paths: []string{
		filepath.Join(fixtures, "aws-kms-get-public-key.json"),
		filepath.Join(fixtures, "azure-key-show-rsa.json"),
		filepath.Join(fixtures, "gcp-public-key.json"),
	}})
	got := map[string]inventory.Key{}
	for _, k := range keys {
		got[k.Source] = k
	}
	aws := got["aws-kms"]
	if aws.Token != "eu-west-1/111122223333" || aws.ID != "1234abcd-12ab-34cd-56ef-1234567890ab" || strings.Join(aws.Usage, ",") != "encrypt,decrypt" || !strings.HasPrefix(aws.URI, "arn:aws:kms:") {
		t.Errorf("aws: %+v", aws)
	}
	az := got["azure-key-vault"]
	if az.Token != "fixture-vault" || az.Label != "payments-kek" || az.EndDate == nil || az.EndDate.Year() != 2028 ||
		az.Extractable == nil || *az.Extractable || strings.Join(az.Usage, ",") != "encrypt,decrypt,wrap,unwrap" {
		t.Errorf("azure: %+v", az)
	}
	gcp := got["gcp-kms"]
	if gcp.Token != "projects/fixture/locations/global/keyRings/ring" || gcp.Label != "signer" || gcp.ID != "1" || strings.Join(gcp.Usage, ",") != "sign,verify" {
		t.Errorf("gcp: %+v", gcp)
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	p12, _ := os.ReadFile(filepath.Join(fixtures, "bundle.p12"))
	os.WriteFile(filepath.Join(dir, "bundle.p12"), p12, 0o600)
	pub, _ := os.ReadFile(filepath.Join(fixtures, "ec-p256-public.pem"))
	os.WriteFile(filepath.Join(dir, "pub.pem"), pub, 0o600)

	// Wrong password: the bundle is not read, the source is partial and
	// the password is nowhere in the result.
	const wrong = "wrong-password-123"
	keys, res := listAll(t, Config{Paths: []string{dir}, Password: wrong})
	if res.Status != inventory.StatusPartial || len(keys) != 1 || !errors.Is(res.Err, ErrPassword) && !strings.Contains(res.Error, "password") {
		t.Errorf("wrong password: %d keys, %+v", len(keys), res)
	}
	if strings.Contains(res.Error, wrong) || strings.Contains(strings.Join(res.Warnings, " "), wrong) {
		t.Errorf("password leaked: %+v", res)
	}

	// An explicit file that holds nothing recognisable fails.
	junk := filepath.Join(dir, "junk.txt")
	os.WriteFile(junk, []byte("hello"), 0o600)
	if keys, res := listAll(t, Config{Paths: []string{junk}}); res.Status != inventory.StatusFailed || len(keys) != 0 {
		t.Errorf("junk file: %+v", res)
	}
	// A missing path is bad input, found at Open.
	if _, err := Open(context.Background(), Config{Paths: []string{filepath.Join(dir, "missing")}}); !errors.Is(err, inventory.ErrInput) {
		t.Errorf("missing path: %v", err)
	}
	// A GCP export whose CRC does not match is refused.
	g, _ := os.ReadFile(filepath.Join(fixtures, "gcp-public-key.json"))
	var m map[string]any
	json.Unmarshal(g, &m)
	m["pemCrc32c"] = "12345"
	g, _ = json.Marshal(m)
	if _, err := ParseGCP(g); err == nil || !strings.Contains(err.Error(), "pemCrc32c") {
		t.Errorf("bad CRC: %v", err)
	}
}

// seeds adds every fixture file to a fuzz corpus.
func seeds(f *testing.F, match func(name string) bool) {
	entries, err := os.ReadDir(fixtures)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if match(e.Name()) {
			b, err := os.ReadFile(filepath.Join(fixtures, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// checkKeys holds what any parser's output must satisfy.
func checkKeys(t *testing.T, keys []inventory.Key) {
	for _, k := range keys {
		if k.Class == "" {
			t.Fatalf("key without class: %+v", k)
		}
		if k.SPKISHA256 != "" && len(k.SPKISHA256) != 64 {
			t.Fatalf("bad spki_sha256 %q", k.SPKISHA256)
		}
	}
}

func FuzzPEM(f *testing.F) {
	seeds(f, func(n string) bool { return strings.HasSuffix(n, ".pem") })
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, _ := ParsePEM(b, "x", "")
		checkKeys(t, keys)
	})
}

func FuzzDER(f *testing.F) {
	seeds(f, func(n string) bool { return strings.HasSuffix(n, ".der") })
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, _ := ParseDER(b, "x", "")
		checkKeys(t, keys)
	})
}

func FuzzPKCS12(f *testing.F) {
	seeds(f, func(n string) bool { return strings.HasSuffix(n, ".p12") })
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, _ := ParsePKCS12(b, "fixture-p12-password")
		checkKeys(t, keys)
	})
}

func FuzzJWK(f *testing.F) {
	seeds(f, func(n string) bool { return n == "jwks.json" })
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, _ := ParseJWKSet(b)
		checkKeys(t, keys)
	})
}

func FuzzAWS(f *testing.F) {
	seeds(f, func(n string) bool { return strings.HasPrefix(n, "aws-") })
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, _ := ParseAWS(b)
		checkKeys(t, keys)
	})
}

func FuzzAzure(f *testing.F) {
	seeds(f, func(n string) bool { return strings.HasPrefix(n, "azure-") })
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, _ := ParseAzure(b)
		checkKeys(t, keys)
	})
}

func FuzzGCP(f *testing.F) {
	seeds(f, func(n string) bool { return strings.HasPrefix(n, "gcp-") })
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, _ := ParseGCP(b)
		checkKeys(t, keys)
		pk, _ := ParsePEM(b, "x", "gcp-kms")
		checkKeys(t, pk)
	})
}

// FuzzParse drives the format detection over every fixture.
func FuzzParse(f *testing.F) {
	seeds(f, func(string) bool { return true })
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, _ := Parse("f.p12", b, Options{Password: "fixture-p12-password"})
		checkKeys(t, keys)
		keys, _ = Parse("f", b, Options{})
		checkKeys(t, keys)
	})
}

// TestManyCopiesOfOneCertificate: a file of more than maxObjectsPerFile
// copies of one certificate lists the first maxObjectsPerFile, each
// paired with a bounded list, and marks the source partial naming
// ErrTooManyObjects. Memory stays linear in the copies: the paired lists
// of 10,000 copies once took gigabytes.
func TestManyCopiesOfOneCertificate(t *testing.T) {
	cert, err := os.ReadFile(filepath.Join(fixtures, "rsa2048-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "copies.pem")
	if err := os.WriteFile(p, []byte(strings.Repeat(string(cert), maxObjectsPerFile+5)), 0o600); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	keys, res := listAll(t, Config{Paths: []string{p}})
	runtime.ReadMemStats(&after)
	if len(keys) != maxObjectsPerFile || res.Status != inventory.StatusPartial {
		t.Fatalf("%d keys, status %s; want %d, partial", len(keys), res.Status, maxObjectsPerFile)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], ErrTooManyObjects.Error()) {
		t.Errorf("warnings %q", res.Warnings)
	}
	for _, k := range keys[:3] {
		if len(k.PairedWith) != 1 || !strings.Contains(strings.Join(k.Notes, "\n"), fmt.Sprintf("%d other objects hold the same key", maxObjectsPerFile-1)) {
			t.Errorf("paired with %d, notes %q", len(k.PairedWith), k.Notes)
		}
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Errorf("listing %d copies allocated %d MB", len(keys), alloc>>20)
	}
}
