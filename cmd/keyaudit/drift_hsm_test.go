package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/reconcile"
)

// TestInventoryDriftOnARealToken makes real changes to a SoftHSM2 token
// between complete reads and reconciles after each: a key generated
// (key-appeared), a key pair deleted (key-disappeared), a key deleted and
// imported again extractable under the same label and ID, and a
// usage granted to a key with C_SetAttributeValue (key-attribute-weakened),
// then the token deleted and a new one initialised under its label
// (token-changed). Every finding names both reads.
func TestInventoryDriftOnARealToken(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("drift", cliPIN)
	tk.GenKeyPair("EC:prime256v1", "a", "01", "--usage-sign")
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(rk)
	kf := filepath.Join(t.TempDir(), "b.pem")
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	tk.WriteObject(kf, "privkey", "b", "02", "--sensitive")
	tk.GenKeyPair("EC:prime256v1", "c", "03")
	pinFile := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(pinFile, []byte(cliPIN+"\n"), 0o600)
	l := newDestroyLab(t, "    - pkcs11: pkcs11:token=drift?module-path="+h.Module+"&pin-source=file:"+pinFile+"\n")
	l.keys()
	if fs := l.findings(); len(fs["key-appeared"])+len(fs["key-disappeared"])+len(fs["key-attribute-weakened"])+len(fs["token-changed"]) != 0 {
		t.Fatalf("drift after a single read: %+v", fs)
	}

	tk.GenKeyPair("EC:prime256v1", "d", "04")
	tk.DeleteObject("privkey", "03")
	tk.DeleteObject("pubkey", "03")
	tk.DeleteObject("privkey", "02")
	tk.WriteObject(kf, "privkey", "b", "02", "--extractable") // the same key, now extractable
	tk.Session(func(p *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		if err := p.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_LABEL, "a")}); err != nil {
			return err
		}
		hs, _, err := p.FindObjects(s, 2)
		p.FindObjectsFinal(s)
		if err != nil || len(hs) != 1 {
			t.Fatalf("key a: %v %v", hs, err)
		}
		return p.SetAttributeValue(s, hs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true)})
	})
	l.keys()
	fs := l.findings()
	subjects := func(check string) string {
		var out []string
		for _, f := range fs[check] {
			out = append(out, f.Subject+": "+f.Message)
		}
		return strings.Join(out, "\n")
	}
	for check, want := range map[string][]string{
		"key-appeared":           {"drift/d"},
		"key-disappeared":        {"drift/c"},
		"key-attribute-weakened": {"drift/b", "now extractable", "drift/a", "derive"},
	} {
		got := subjects(check)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: want %q in\n%s", check, w, got)
			}
		}
		for _, f := range fs[check] {
			if !strings.Contains(f.Message, "run") {
				t.Errorf("%s does not name the reads: %s", check, f.Message)
			}
		}
	}
	if got := subjects("key-disappeared"); strings.Contains(got, "drift/a") || strings.Contains(got, "drift/b") || strings.Contains(got, "drift/d") {
		t.Errorf("keys still there reported gone:\n%s", got)
	}
	for _, f := range fs["key-disappeared"] {
		if f.Severity != reconcile.High {
			t.Errorf("key-disappeared %s is %s", f.Subject, f.Severity)
		}
	}

	// The device is replaced: a new token under the same label.
	h.DeleteToken("drift")
	h.InitToken("drift", cliPIN).GenKeyPair("EC:prime256v1", "a", "01")
	l.keys()
	fs = l.findings()
	if tc := fs["token-changed"]; len(tc) != 1 || !strings.Contains(tc[0].Message, "serial") {
		t.Errorf("token-changed: %+v", tc)
	}
}
