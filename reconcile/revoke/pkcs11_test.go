package revoke

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/internal/testlab"
)

// TestPKCS11SignerSignsInToken: EC and RSA keys generated in SoftHSM sign
// through C_Sign, and Go's verifiers accept the signatures (ECDSA as DER,
// RSA as PKCS #1 v1.5 with the SHA-256 DigestInfo).
func TestPKCS11SignerSignsInToken(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("signer", "13579")
	tk.GenKeyPair("EC:prime256v1", "ec", "01")
	tk.GenKeyPair("rsa:2048", "rsa", "02")
	pin := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pin, []byte(tk.PIN), 0o600); err != nil {
		t.Fatal(err)
	}
	// No pin-source: the PIN from the variable.
	if _, err := OpenPKCS11("pkcs11:token=signer?module-path="+h.Module, func(string) string { return "" }); err == nil {
		t.Fatal("opened without a PIN")
	}
	tok, err := OpenPKCS11("pkcs11:token=signer?module-path="+h.Module, func(k string) string {
		if k == "KEYAUDIT_PKCS11_PIN" {
			return tk.PIN
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if len(tok.Signers()) != 2 {
		t.Fatalf("signers = %d, want 2", len(tok.Signers()))
	}
	digest := sha256.Sum256([]byte("revokeCert"))
	for _, s := range tok.Signers() {
		sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		switch pub := s.Public().(type) {
		case *ecdsa.PublicKey:
			if !ecdsa.VerifyASN1(pub, digest[:], sig) {
				t.Fatalf("%s: ECDSA signature does not verify", s)
			}
		case *rsa.PublicKey:
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		default:
			t.Fatalf("%s: public key %T", s, pub)
		}
	}
	// object= selects one key; a wrong PIN is refused without the PIN in
	// the message.
	tok.Close()
	one, err := OpenPKCS11("pkcs11:token=signer;object=rsa?module-path="+h.Module+"&pin-source=file:"+pin, nil)
	if err != nil || len(one.Signers()) != 1 {
		t.Fatalf("object=rsa: %v", err)
	}
	one.Close()
	_, err = OpenPKCS11("pkcs11:token=signer?module-path="+h.Module, func(string) string { return "97531" })
	if err == nil {
		t.Fatal("wrong PIN accepted")
	}
	if s := err.Error(); strings.Contains(s, "97531") || strings.Contains(s, tk.PIN) {
		t.Fatalf("error shows a PIN: %s", s)
	}
}
