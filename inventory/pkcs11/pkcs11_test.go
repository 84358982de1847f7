package pkcs11

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
)

// spy wraps the module to count logins and to check that no key value is
// ever requested.
type spy struct {
	p11
	t *testing.T

	mu      sync.Mutex
	logins  int
	reads   int
	failAt  int // GetAttributeValue call after which the token "is removed" (0: never)
	removed bool
}

func (s *spy) Login(sh pkcs11.SessionHandle, userType uint, pin string) error {
	s.mu.Lock()
	s.logins++
	s.mu.Unlock()
	return s.p11.Login(sh, userType, pin)
}

func (s *spy) GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error) {
	s.mu.Lock()
	s.reads++
	if s.failAt > 0 && s.reads > s.failAt {
		s.removed = true
	}
	removed := s.removed
	s.mu.Unlock()
	if removed {
		return nil, pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED)
	}
	for _, x := range a {
		if x.Type == pkcs11.CKA_VALUE {
			cl, err := s.p11.GetAttributeValue(sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil)})
			if err != nil {
				s.t.Errorf("reading CKA_CLASS: %v", err)
				continue
			}
			if c := ulong(cl[0].Value); c == pkcs11.CKO_PRIVATE_KEY || c == pkcs11.CKO_SECRET_KEY {
				s.t.Errorf("CKA_VALUE requested from a key object (class %d)", c)
			}
		}
	}
	return s.p11.GetAttributeValue(sh, o, a)
}

func ulong(b []byte) uint {
	v, _ := attrs{0: b}.ulong(0)
	return v
}

func open(t *testing.T, uri, pin string, sp *spy) (*Source, error) {
	t.Helper()
	u, err := pkcs11uri.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{URI: u, PIN: pin}
	if sp != nil {
		sp.t = t
		cfg.wrap = func(p p11) p11 { sp.p11 = p; return sp }
	}
	s, err := Open(context.Background(), cfg)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func list(t *testing.T, s *Source) ([]inventory.Key, inventory.Result) {
	t.Helper()
	var keys []inventory.Key
	res := s.Keys(context.Background(), func(k inventory.Key) error {
		keys = append(keys, k)
		return nil
	})
	return keys, res
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func spkiOf(t *testing.T, pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sha(der)
}

func writePEM(t *testing.T, typ string, der []byte) string {
	f := filepath.Join(t.TempDir(), strings.ReplaceAll(strings.ToLower(typ), " ", "-")+".pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func selfSigned(t *testing.T, key any, pub any, cn string) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func byLabel(keys []inventory.Key) map[string]map[inventory.Class]inventory.Key {
	m := map[string]map[inventory.Class]inventory.Key{}
	for _, k := range keys {
		if m[k.Label] == nil {
			m[k.Label] = map[inventory.Class]inventory.Key{}
		}
		m[k.Label][k.Class] = k
	}
	return m
}

func uriFor(h *testlab.SoftHSM, token string) string {
	u := "pkcs11:"
	if token != "" {
		u += "token=" + token
	}
	return u + "?module-path=" + h.Module
}

func TestSoftHSMInventory(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("alpha", "1234")

	tk.GenKeyPair("rsa:2048", "rsa2048", "01", "--usage-sign", "--usage-decrypt")
	tk.GenKeyPair("rsa:3072", "rsa3072", "02")
	tk.GenKeyPair("rsa:4096", "rsa4096", "03")
	tk.GenKeyPair("EC:prime256v1", "p256", "04", "--usage-derive")
	tk.GenKeyPair("EC:secp384r1", "p384", "05")
	edSupported := true
	func() {
		defer func() {
			if recover() != nil {
				edSupported = false
			}
		}()
		tk.GenKeyPair("EC:edwards25519", "ed25519", "06")
	}()
	tk.GenSecret("AES:32", "aes-sensitive", "07", "--sensitive")
	tk.GenSecret("AES:16", "aes-extractable", "08", "--extractable")

	// A private key with no public object and no certificate: its SPKI
	// must be derived from CKA_MODULUS and CKA_PUBLIC_EXPONENT.
	lone, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(lone)
	tk.WriteObject(writePEM(t, "PRIVATE KEY", der), "privkey", "lone-rsa", "09", "--sensitive")

	// A private key and its certificate stored under different CKA_IDs.
	paired, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ = x509.MarshalPKCS8PrivateKey(paired)
	tk.WriteObject(writePEM(t, "PRIVATE KEY", der), "privkey", "web", "0a", "--sensitive")
	certRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ = x509.MarshalPKCS8PrivateKey(certRSA)
	tk.WriteObject(writePEM(t, "PRIVATE KEY", der), "privkey", "tls", "0b", "--sensitive")
	certDER := selfSigned(t, certRSA, &certRSA.PublicKey, "tls.example.test")
	certFile := filepath.Join(t.TempDir(), "cert.der")
	os.WriteFile(certFile, certDER, 0o600)
	tk.WriteObject(certFile, "cert", "tls", "0c")

	// Expected SPKIs, from the public objects read with Go's own types
	// (before our code loads the module: C_Initialize is per process).
	wantSPKI := map[string]string{}
	for _, id := range []string{"01", "02", "03", "04", "05", "06"} {
		if id == "06" && !edSupported {
			continue
		}
		wantSPKI[id] = spkiOf(t, tk.PublicKey(id))
	}

	sp := &spy{}
	s, err := open(t, uriFor(h, "alpha"), tk.PIN, sp)
	if err != nil {
		t.Fatal(err)
	}
	keys, res := list(t, s)
	if res.Status != inventory.StatusComplete || res.Err != nil {
		t.Fatalf("result = %+v", res)
	}
	if res.Keys != len(keys) {
		t.Errorf("result counts %d keys, emitted %d", res.Keys, len(keys))
	}
	if sp.logins != 1 {
		t.Errorf("C_Login called %d times, want 1", sp.logins)
	}
	m := byLabel(keys)
	refs := map[string]bool{}
	for _, k := range keys {
		if refs[k.Ref] {
			t.Errorf("duplicate ref %s", k.Ref)
		}
		refs[k.Ref] = true
		if k.Token != "alpha" || k.TokenSerial == "" || !strings.HasPrefix(k.URI, "pkcs11:") || k.Source != "pkcs11" {
			t.Errorf("%s/%s: token fields %q %q %q %q", k.Label, k.Class, k.Token, k.TokenSerial, k.URI, k.Source)
		}
		if strings.Contains(k.URI, tk.PIN) && tk.PIN != "" && strings.Contains(k.URI, "pin") {
			t.Errorf("URI carries the PIN: %s", k.URI)
		}
		if k.Usage == nil {
			t.Errorf("%s/%s: nil usage", k.Label, k.Class)
		}
	}

	for _, c := range []struct {
		label, id, curve, typ string
		bits                  int
	}{
		{"rsa2048", "01", "", "RSA", 2048},
		{"rsa3072", "02", "", "RSA", 3072},
		{"rsa4096", "03", "", "RSA", 4096},
		{"p256", "04", "P-256", "ECDSA", 256},
		{"p384", "05", "P-384", "ECDSA", 384},
		{"ed25519", "06", "Ed25519", "Ed25519", 256},
	} {
		if c.label == "ed25519" && !edSupported {
			t.Logf("SoftHSM build without EdDSA: skipping Ed25519")
			continue
		}
		want := wantSPKI[c.id]
		for _, class := range []inventory.Class{inventory.ClassPrivateKey, inventory.ClassPublicKey} {
			k, ok := m[c.label][class]
			if !ok {
				t.Errorf("%s: no %s object listed", c.label, class)
				continue
			}
			if k.SPKISHA256 != want {
				t.Errorf("%s %s: spki_sha256 = %q, want %q (from pkcs11-tool)", c.label, class, k.SPKISHA256, want)
			}
			if k.KeyType != c.typ || k.KeyBits != c.bits || k.Curve != c.curve || k.ID != c.id {
				t.Errorf("%s %s: type/bits/curve/id = %s/%d/%q/%s, want %s/%d/%q/%s", c.label, class, k.KeyType, k.KeyBits, k.Curve, k.ID, c.typ, c.bits, c.curve, c.id)
			}
			if len(k.PairedWith) != 1 || k.IDMismatch {
				t.Errorf("%s %s: paired with %+v, id mismatch %v", c.label, class, k.PairedWith, k.IDMismatch)
			}
			if class == inventory.ClassPrivateKey {
				if k.Sensitive == nil || !*k.Sensitive || k.Local == nil || !*k.Local || k.Extractable == nil || *k.Extractable {
					t.Errorf("%s private: sensitive=%v local=%v extractable=%v", c.label, ptr(k.Sensitive), ptr(k.Local), ptr(k.Extractable))
				}
				if c.typ == "RSA" && k.SPKISource != inventory.SPKIFromPrivate {
					t.Errorf("%s private: spki_source = %q, want derived", c.label, k.SPKISource)
				}
				if c.typ != "RSA" && k.SPKISource != inventory.SPKIFromSameID && k.SPKISource != inventory.SPKIFromKeyInfo {
					t.Errorf("%s private: spki_source = %q", c.label, k.SPKISource)
				}
			} else if k.Sensitive != nil {
				t.Errorf("%s public: sensitive = %v, want null", c.label, *k.Sensitive)
			}
		}
	}
	if k := m["rsa2048"][inventory.ClassPrivateKey]; strings.Join(k.Usage, ",") != "sign,decrypt,unwrap" {
		t.Errorf("rsa2048 private usage = %v, want [sign decrypt unwrap] (as pkcs11-tool -O shows)", k.Usage)
	}
	if k := m["rsa2048"][inventory.ClassPublicKey]; strings.Join(k.Usage, ",") != "verify,encrypt,wrap" {
		t.Errorf("rsa2048 public usage = %v, want [verify encrypt wrap]", k.Usage)
	}
	if k := m["p256"][inventory.ClassPrivateKey]; !contains(k.Usage, "derive") {
		t.Errorf("p256 private usage = %v, want derive", k.Usage)
	}

	// Secret keys: no SPKI, size from CKA_VALUE_LEN, flags as set.
	aes := m["aes-sensitive"][inventory.ClassSecretKey]
	if aes.KeyType != "AES" || aes.KeyBits != 256 || aes.SPKISHA256 != "" || aes.Sensitive == nil || !*aes.Sensitive {
		t.Errorf("aes-sensitive = %+v", aes)
	}
	if aes.KCV == "" {
		t.Logf("SoftHSM gave no CKA_CHECK_VALUE for AES")
	}
	ext := m["aes-extractable"][inventory.ClassSecretKey]
	if ext.KeyBits != 128 || ext.Extractable == nil || !*ext.Extractable || ext.NeverExtractable == nil || *ext.NeverExtractable {
		t.Errorf("aes-extractable: bits %d extractable %v never_extractable %v", ext.KeyBits, ptr(ext.Extractable), ptr(ext.NeverExtractable))
	}

	// The private-only RSA key: SPKI derived, no pairing.
	loneKey := m["lone-rsa"][inventory.ClassPrivateKey]
	if loneKey.SPKISHA256 != spkiOf(t, &lone.PublicKey) || loneKey.SPKISource != inventory.SPKIFromPrivate {
		t.Errorf("lone-rsa: spki %q (%s), want %q derived", loneKey.SPKISHA256, loneKey.SPKISource, spkiOf(t, &lone.PublicKey))
	}
	if loneKey.KeyBits != 2048 || len(loneKey.PairedWith) != 0 || loneKey.Local == nil || *loneKey.Local {
		t.Errorf("lone-rsa: bits %d, paired %v, local %v", loneKey.KeyBits, loneKey.PairedWith, ptr(loneKey.Local))
	}
	if _, ok := m["lone-rsa"][inventory.ClassPublicKey]; ok {
		t.Errorf("lone-rsa has a public object: the test setup is wrong")
	}

	// An imported EC private key with nothing sharing its ID: no public half.
	web := m["web"][inventory.ClassPrivateKey]
	if web.SPKISHA256 != "" && web.SPKISHA256 != spkiOf(t, &paired.PublicKey) {
		t.Errorf("web: wrong spki %q", web.SPKISHA256)
	}
	if web.SPKISHA256 == "" && !hasNote(web, "no public half") {
		t.Errorf("web: no SPKI and no 'no public half' note: %v", web.Notes)
	}
	if web.Curve != "P-256" {
		t.Errorf("web: curve %q", web.Curve)
	}

	// The certificate and its private key, under different CKA_IDs.
	cert := m["tls"][inventory.ClassCertificate]
	priv := m["tls"][inventory.ClassPrivateKey]
	if cert.SPKISHA256 != spkiOf(t, &certRSA.PublicKey) || cert.CertSHA256 != sha(certDER) || cert.SPKISource != inventory.SPKIFromCertificate {
		t.Errorf("tls cert: spki %q cert %q source %q", cert.SPKISHA256, cert.CertSHA256, cert.SPKISource)
	}
	if cert.EndDate == nil || !cert.EndDate.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) || cert.Subject != "CN=tls.example.test" {
		t.Errorf("tls cert: end %v subject %q", cert.EndDate, cert.Subject)
	}
	if priv.SPKISHA256 != cert.SPKISHA256 || !priv.IDMismatch || !cert.IDMismatch {
		t.Errorf("tls: private %q mismatch=%v, cert mismatch=%v", priv.SPKISHA256, priv.IDMismatch, cert.IDMismatch)
	}
	if len(priv.PairedWith) != 1 || priv.PairedWith[0].Class != inventory.ClassCertificate || priv.PairedWith[0].ID != "0c" {
		t.Errorf("tls private paired with %+v", priv.PairedWith)
	}
	if !hasNote(priv, "differs") {
		t.Errorf("tls private: no CKA_ID note: %v", priv.Notes)
	}

	// A second listing gives the same refs (stable store keys).
	s.Close()
	s2, err := open(t, uriFor(h, "alpha"), tk.PIN, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys2, _ := list(t, s2)
	for _, k := range keys2 {
		if !refs[k.Ref] {
			t.Errorf("ref %s not stable across listings", k.Ref)
		}
	}
}

func ptr(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func hasNote(k inventory.Key, sub string) bool {
	for _, n := range k.Notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

func TestTwoTokensAndSelectors(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	a := h.InitToken("alpha", "1111")
	b := h.InitToken("beta", "1111")
	a.GenKeyPair("EC:prime256v1", "a1", "01")
	b.GenKeyPair("EC:prime256v1", "b1", "01")
	b.GenSecret("AES:32", "b2", "02", "--sensitive")

	s, err := open(t, uriFor(h, ""), "1111", nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, res := list(t, s)
	if res.Status != inventory.StatusComplete || len(keys) != 5 {
		t.Fatalf("both tokens: %d keys, %+v", len(keys), res)
	}
	tokens := map[string]int{}
	for _, k := range keys {
		tokens[k.Token]++
	}
	if tokens["alpha"] != 2 || tokens["beta"] != 3 {
		t.Errorf("keys per token = %v", tokens)
	}
	s.Close()

	for uri, want := range map[string]int{
		"pkcs11:token=beta":                     3,
		"pkcs11:token=beta;type=secret-key":     1,
		"pkcs11:token=beta;type=public":         1,
		"pkcs11:token=beta;object=b1":           2,
		"pkcs11:id=%01":                         4,
		"pkcs11:model=SoftHSM%20v2;token=alpha": 2,
	} {
		s, err := open(t, uri+"?module-path="+h.Module, "1111", nil)
		if err != nil {
			t.Errorf("%s: %v", uri, err)
			continue
		}
		keys, _ := list(t, s)
		if len(keys) != want {
			t.Errorf("%s: %d keys, want %d", uri, len(keys), want)
		}
		s.Close()
	}
}

func TestBadInput(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("alpha", "1234")
	tk.GenKeyPair("EC:prime256v1", "k", "01")
	const wrongPIN = "98765432"

	t.Run("wrong PIN", func(t *testing.T) {
		sp := &spy{}
		_, err := open(t, uriFor(h, "alpha"), wrongPIN, sp)
		if !errors.Is(err, ErrPINIncorrect) || !errors.Is(err, inventory.ErrInput) {
			t.Fatalf("err = %v, want ErrPINIncorrect", err)
		}
		if sp.logins != 1 {
			t.Errorf("C_Login called %d times, want exactly 1", sp.logins)
		}
		if strings.Contains(err.Error(), wrongPIN) {
			t.Errorf("error contains the PIN: %v", err)
		}
		t.Log(err)
	})
	t.Run("no PIN", func(t *testing.T) {
		_, err := open(t, uriFor(h, "alpha"), "", nil)
		if !errors.Is(err, ErrNoPIN) || !errors.Is(err, inventory.ErrInput) {
			t.Fatalf("err = %v, want ErrNoPIN", err)
		}
	})
	t.Run("missing module", func(t *testing.T) {
		_, err := open(t, "pkcs11:token=alpha?module-path=/nonexistent/libnothing.so", "1234", nil)
		if !errors.Is(err, ErrModule) || !errors.Is(err, inventory.ErrInput) {
			t.Fatalf("err = %v, want ErrModule", err)
		}
		t.Log(err)
	})
	t.Run("not a module", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "lib.so")
		os.WriteFile(f, []byte("not a library"), 0o600)
		_, err := open(t, "pkcs11:token=alpha?module-path="+f, "1234", nil)
		if !errors.Is(err, ErrModule) {
			t.Fatalf("err = %v, want ErrModule", err)
		}
	})
	t.Run("no module", func(t *testing.T) {
		_, err := open(t, "pkcs11:token=alpha", "1234", nil)
		if !errors.Is(err, ErrModule) {
			t.Fatalf("err = %v, want ErrModule", err)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		sp := &spy{}
		_, err := open(t, uriFor(h, "nonexistent"), "1234", sp)
		if !errors.Is(err, ErrTokenNotFound) || !errors.Is(err, inventory.ErrInput) {
			t.Fatalf("err = %v, want ErrTokenNotFound", err)
		}
		if !strings.Contains(err.Error(), `"alpha"`) {
			t.Errorf("error does not list the tokens present: %v", err)
		}
		if sp.logins != 0 {
			t.Errorf("logged in %d times to find no token", sp.logins)
		}
		t.Log(err)
	})
	t.Run("pin-value", func(t *testing.T) {
		u, _ := pkcs11uri.Parse("pkcs11:token=alpha?pin-value=" + wrongPIN)
		_, err := ResolvePIN(u, nil, secretfile.Policy{})
		if !errors.Is(err, inventory.ErrInput) || strings.Contains(err.Error(), wrongPIN) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("pin-source", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "pin")
		os.WriteFile(f, []byte(tk.PIN+"\n"), 0o600)
		u, _ := pkcs11uri.Parse("pkcs11:token=alpha?pin-source=file:" + f)
		pin, err := ResolvePIN(u, func(string) string { return "from-env" }, secretfile.Policy{})
		if err != nil || pin != tk.PIN {
			t.Fatalf("pin-source: %v", err)
		}
		u, _ = pkcs11uri.Parse("pkcs11:token=alpha")
		if pin, _ := ResolvePIN(u, func(k string) string { return map[string]string{PINEnv: "env-pin"}[k] }, secretfile.Policy{}); pin != "env-pin" {
			t.Errorf("env PIN = %q", pin)
		}
	})
	// After all that, the right PIN still works: nothing locked the token.
	if _, err := open(t, uriFor(h, "alpha"), tk.PIN, nil); err != nil {
		t.Fatalf("right PIN after the wrong one: %v", err)
	}
}

// A token that disappears mid-listing gives a partial result with the keys
// read before, never an empty complete one.
func TestTokenRemovedMidway(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("alpha", "1234")
	tk.Populate(40)
	sp := &spy{failAt: 25}
	s, err := open(t, uriFor(h, "alpha"), tk.PIN, sp)
	if err != nil {
		t.Fatal(err)
	}
	keys, res := list(t, s)
	if res.Status != inventory.StatusPartial || res.Err == nil || !strings.Contains(res.Error, "CKR_DEVICE_REMOVED") {
		t.Fatalf("result = %+v", res)
	}
	if len(keys) == 0 || len(keys) >= 40 || res.Keys != len(keys) {
		t.Errorf("emitted %d keys (result says %d)", len(keys), res.Keys)
	}
}

func TestTenThousandObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	h := testlab.NewSoftHSM(t)
	tk, pop := h.PopulatedToken("big", "1234", 10000)

	start := time.Now()
	sp := &spy{}
	s, err := open(t, uriFor(h, "big"), tk.PIN, sp)
	if err != nil {
		t.Fatal(err)
	}
	opened := time.Since(start)
	n, paired, secret := 0, 0, 0
	res := s.Keys(context.Background(), func(k inventory.Key) error {
		n++
		if len(k.PairedWith) > 0 {
			paired++
		}
		if k.Class == inventory.ClassSecretKey {
			secret++
		}
		return nil
	})
	t.Logf("listed %d objects in %v (open %v), %d C_GetAttributeValue calls", n, time.Since(start), opened, sp.reads)
	if res.Status != inventory.StatusComplete || n != 10000 {
		t.Fatalf("listed %d, result %+v", n, res)
	}
	if paired != 2*pop.RSAPairs || secret != pop.AESKeys {
		t.Errorf("paired %d (want %d), secret %d (want %d)", paired, 2*pop.RSAPairs, secret, pop.AESKeys)
	}
}

func TestForbiddenAttributes(t *testing.T) {
	r := newReader(nil, 0)
	for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_SECRET_KEY} {
		if _, err := r.bulk(class, 1, []uint{pkcs11.CKA_LABEL, pkcs11.CKA_VALUE}); !errors.Is(err, errForbidden) {
			t.Errorf("class %d: reading CKA_VALUE not refused: %v", class, err)
		}
	}
	// Every attribute set this package reads is allowed for its class.
	for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_SECRET_KEY, pkcs11.CKO_CERTIFICATE} {
		req, opt := classAttrs(class)
		all := concat(req, opt)
		for _, kt := range []uint{pkcs11.CKK_RSA, pkcs11.CKK_EC, ckkECEdwards, pkcs11.CKK_AES} {
			treq, topt := typeAttrs(class, kt)
			all = append(all, concat(treq, topt)...)
		}
		for _, a := range all {
			if forbidden(class, a) {
				t.Errorf("class %d reads forbidden attribute 0x%x", class, a)
			}
		}
	}
}
