package revoke

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
	invp11 "github.com/keyaudit/keyaudit/inventory/pkcs11"
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
	if _, err := OpenPKCS11("pkcs11:token=signer?module-path="+h.Module, func(string) string { return "" }, secretfile.Policy{}); err == nil {
		t.Fatal("opened without a PIN")
	}
	tok, err := OpenPKCS11("pkcs11:token=signer?module-path="+h.Module, func(k string) string {
		if k == "KEYAUDIT_PKCS11_PIN" {
			return tk.PIN
		}
		return ""
	}, secretfile.Policy{})
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
	one, err := OpenPKCS11("pkcs11:token=signer;object=rsa?module-path="+h.Module+"&pin-source=file:"+pin, nil, secretfile.Policy{})
	if err != nil || len(one.Signers()) != 1 {
		t.Fatalf("object=rsa: %v", err)
	}
	one.Close()
	_, err = OpenPKCS11("pkcs11:token=signer?module-path="+h.Module, func(string) string { return "97531" }, secretfile.Policy{})
	if err == nil {
		t.Fatal("wrong PIN accepted")
	}
	if s := err.Error(); strings.Contains(s, "97531") || strings.Contains(s, tk.PIN) {
		t.Fatalf("error shows a PIN: %s", s)
	}
}

// pinEnv gives pin as $KEYAUDIT_PKCS11_PIN.
func pinEnv(pin string) func(string) string {
	return func(k string) string {
		if k == invp11.PINEnv {
			return pin
		}
		return ""
	}
}

func signVerify(t *testing.T, tok *PKCS11Token) {
	t.Helper()
	digest := sha256.Sum256([]byte("revokeCert"))
	for _, s := range tok.Signers() {
		sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if pub, ok := s.Public().(*ecdsa.PublicKey); !ok || !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Fatalf("%s: signature does not verify", s)
		}
	}
}

// TestPKCS11SharedWithInventory: an inventory source and a revocation
// signer open the same token in one process, both at once, and close in
// either order: the module is initialized once and finalized by the last
// to close, and the login outlives the first close.
func TestPKCS11SharedWithInventory(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("shared", "24680")
	tk.GenKeyPair("EC:prime256v1", "ec", "01")
	uri := "pkcs11:token=shared?module-path=" + h.Module

	list := func(src *invp11.Source) int {
		t.Helper()
		private := 0
		res := src.Keys(context.Background(), func(k inventory.Key) error {
			if k.Class == inventory.ClassPrivateKey {
				private++
			}
			return nil
		})
		if res.Err != nil || res.Status != inventory.StatusComplete {
			t.Fatalf("inventory listing: %+v", res)
		}
		return private
	}
	for _, revokeFirst := range []bool{false, true} {
		var src *invp11.Source
		var tok *PKCS11Token
		openInventory := func() {
			u, _ := pkcs11uri.Parse(uri)
			var err error
			if src, err = invp11.Open(context.Background(), invp11.Config{URI: u, PIN: tk.PIN}); err != nil {
				t.Fatalf("inventory open: %v", err)
			}
			t.Cleanup(func() { src.Close() })
		}
		openRevoke := func() {
			var err error
			if tok, err = OpenPKCS11(uri, pinEnv(tk.PIN), secretfile.Policy{}); err != nil {
				t.Fatalf("revoke open: %v", err)
			}
			t.Cleanup(func() { tok.Close() })
		}
		if revokeFirst {
			openRevoke()
			openInventory()
		} else {
			openInventory()
			openRevoke()
		}
		if n := list(src); n != 1 {
			t.Fatalf("inventory lists %d private keys, want 1", n)
		}
		signVerify(t, tok)
		// Close the one opened first; the other still works, logged in.
		if revokeFirst {
			if err := tok.Close(); err != nil {
				t.Fatal(err)
			}
			if n := list(src); n != 1 {
				t.Errorf("after the signer closed, inventory lists %d private keys, want 1", n)
			}
			src.Close()
		} else {
			src.Close()
			signVerify(t, tok)
			if err := tok.Close(); err != nil {
				t.Fatal(err)
			}
		}
		// Both closed: the module was finalized, so a fresh C_Initialize
		// succeeds (CKR_CRYPTOKI_ALREADY_INITIALIZED would mean a leak).
		p := pkcs11.New(h.Module)
		if p == nil {
			t.Fatalf("cannot load %s", h.Module)
		}
		if err := p.Initialize(); err != nil {
			t.Errorf("revoke first %v: module left initialized: C_Initialize: %v", revokeFirst, err)
		} else {
			p.Finalize()
		}
		p.Destroy()
	}
}

// TestOpenPKCS11TokenAttributes: the signer's token is selected by every
// URI attribute inventory honours, and must be exactly one.
func TestOpenPKCS11TokenAttributes(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("signer", "13579")
	h.InitToken("other", "13579")
	tk.GenKeyPair("EC:prime256v1", "ec", "01")
	var slotDesc string
	tk.Session(func(p *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		si, err := p.GetSessionInfo(s)
		if err != nil {
			return err
		}
		info, err := p.GetSlotInfo(si.SlotID)
		slotDesc = strings.TrimRight(info.SlotDescription, " \x00")
		return err
	})
	mod := "?module-path=" + h.Module
	env := pinEnv(tk.PIN)

	for _, path := range []string{
		"token=signer;slot-description=" + url.PathEscape("no such slot"),
		"token=signer;slot-manufacturer=nobody",
		"token=signer;library-manufacturer=nobody",
	} {
		_, err := OpenPKCS11("pkcs11:"+path+mod, env, secretfile.Policy{})
		if !errors.Is(err, invp11.ErrTokenNotFound) {
			t.Errorf("%s: err = %v, want ErrTokenNotFound", path, err)
		}
	}
	tok, err := OpenPKCS11("pkcs11:slot-description="+url.PathEscape(slotDesc)+mod, env, secretfile.Policy{})
	if err != nil {
		t.Fatalf("slot-description=%q: %v", slotDesc, err)
	}
	if len(tok.Signers()) != 1 {
		t.Errorf("signers = %d, want 1", len(tok.Signers()))
	}
	tok.Close()

	if _, err := OpenPKCS11("pkcs11:"+mod, env, secretfile.Policy{}); !errors.Is(err, invp11.ErrTokenAmbiguous) {
		t.Errorf("two tokens: err = %v, want ErrTokenAmbiguous", err)
	}
	if _, err := OpenPKCS11("pkcs11:token=signer"+mod, pinEnv(""), secretfile.Policy{}); !errors.Is(err, invp11.ErrNoPIN) {
		t.Errorf("no PIN: err = %v, want ErrNoPIN", err)
	}
	if _, err := OpenPKCS11("pkcs11:token=signer"+mod, pinEnv("97531"), secretfile.Policy{}); !errors.Is(err, invp11.ErrPINIncorrect) {
		t.Errorf("wrong PIN: err = %v, want ErrPINIncorrect", err)
	}
	// module-name finds the library in the usual directories.
	name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(h.Module), "lib"), ".so")
	tok, err = OpenPKCS11("pkcs11:token=signer?module-name="+name, env, secretfile.Policy{})
	switch {
	case errors.Is(err, invp11.ErrModule):
		t.Logf("module-name=%s: %v (SoftHSM outside the searched directories)", name, err)
	case err != nil:
		t.Errorf("module-name=%s: %v", name, err)
	default:
		tok.Close()
	}
}
