package testlab

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

// SoftHSM module locations on Debian and elsewhere.
var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
}

// SoftHSMModulePath returns the installed SoftHSM2 PKCS#11 module, or "".
func SoftHSMModulePath() string {
	for _, p := range softHSMModules {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// SoftHSM is a SoftHSM2 installation private to one test: its config and
// token directory live in a temp dir, and SOFTHSM2_CONF points at it for
// the rest of the test (so the test must not be parallel).
type SoftHSM struct {
	Dir    string // temp dir holding softhsm2.conf and tokens/
	Conf   string // path of softhsm2.conf
	Module string // path of libsofthsm2.so

	t    testing.TB
	util string
	tool string
}

// NewSoftHSM sets up an empty SoftHSM2 token directory. It skips the test
// (fails it under CI) when softhsm2 or opensc's pkcs11-tool is missing.
func NewSoftHSM(t testing.TB) *SoftHSM {
	t.Helper()
	mod := SoftHSMModulePath()
	if mod == "" {
		Missing(t, "SoftHSM2 module libsofthsm2.so not installed (apt-get install softhsm2; bash .ci/run installs it)")
	}
	h := &SoftHSM{Dir: fastTempDir(t), Module: mod, t: t}
	h.util = Need(t, "softhsm2-util")
	h.tool = Need(t, "pkcs11-tool")
	h.Conf = filepath.Join(h.Dir, "softhsm2.conf")
	tokens := filepath.Join(h.Dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(h.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", h.Conf)
	return h
}

// fastTempDir returns a temp dir on tmpfs (/dev/shm) when there is one.
// SoftHSM's file store rewrites an object's file for every attribute it
// sets: on a disk, creating 10,000 objects takes minutes instead of
// seconds.
func fastTempDir(t testing.TB) string {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "keyaudit-softhsm-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// Token is an initialised SoftHSM token.
type Token struct {
	Label string
	PIN   string
	SOPIN string
	h     *SoftHSM
}

// InitToken initialises a new token in the next free slot.
func (h *SoftHSM) InitToken(label, pin string) *Token {
	h.t.Helper()
	tk := &Token{Label: label, PIN: pin, SOPIN: "so-" + pin + "-so", h: h}
	h.run(h.util, "--init-token", "--free", "--label", label, "--so-pin", tk.SOPIN, "--pin", pin)
	return tk
}

func (h *SoftHSM) run(name string, args ...string) []byte {
	h.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+h.Conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("testlab: %s %s: %v\n%s", filepath.Base(name), redactArgs(args), err, out)
	}
	return out
}

// redactArgs hides PIN arguments in failure messages.
func redactArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if i > 0 && (args[i-1] == "--pin" || args[i-1] == "--so-pin") {
			out[i] = "***"
		}
	}
	return strings.Join(out, " ")
}

// Tool runs pkcs11-tool logged in to the token, returning its output.
func (tk *Token) Tool(args ...string) []byte {
	tk.h.t.Helper()
	base := []string{"--module", tk.h.Module, "--token-label", tk.Label, "--login", "--pin", tk.PIN}
	return tk.h.run(tk.h.tool, append(base, args...)...)
}

// GenKeyPair generates a key pair with pkcs11-tool. keyType is
// pkcs11-tool's: "rsa:2048", "EC:prime256v1", "EC:secp384r1",
// "EC:edwards25519". id is hex.
func (tk *Token) GenKeyPair(keyType, label, id string, extra ...string) {
	tk.h.t.Helper()
	tk.Tool(append([]string{"--keypairgen", "--key-type", keyType, "--label", label, "--id", id}, extra...)...)
}

// GenSecret generates a secret key ("AES:32", "GENERIC:32").
func (tk *Token) GenSecret(keyType, label, id string, extra ...string) {
	tk.h.t.Helper()
	tk.Tool(append([]string{"--keygen", "--key-type", keyType, "--label", label, "--id", id}, extra...)...)
}

// WriteObject imports a file (DER certificate, PEM/DER key) as an object
// of type typ: cert, privkey, pubkey, secrkey, data.
func (tk *Token) WriteObject(file, typ, label, id string, extra ...string) {
	tk.h.t.Helper()
	tk.Tool(append([]string{"--write-object", file, "--type", typ, "--label", label, "--id", id}, extra...)...)
}

// DeleteToken deletes the token labelled label (a device replaced or
// re-initialised: a new token may take its label).
func (h *SoftHSM) DeleteToken(label string) {
	h.t.Helper()
	h.run(h.util, "--delete-token", "--token", label)
}

// DeleteObject deletes the object of type typ with id.
func (tk *Token) DeleteObject(typ, id string) {
	tk.h.t.Helper()
	tk.Tool("--delete-object", "--type", typ, "--id", id)
}

// Session opens the module through the PKCS#11 API (not pkcs11-tool), logs
// in to the token read-write and calls fn. The module is finalized and
// unloaded before Session returns, so code under test can load it afresh.
func (tk *Token) Session(fn func(p *pkcs11.Ctx, s pkcs11.SessionHandle) error) {
	t := tk.h.t
	t.Helper()
	p := pkcs11.New(tk.h.Module)
	if p == nil {
		t.Fatalf("testlab: cannot load %s", tk.h.Module)
	}
	defer p.Destroy()
	if err := p.Initialize(); err != nil {
		t.Fatalf("testlab: C_Initialize: %v", err)
	}
	defer p.Finalize()
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatalf("testlab: C_GetSlotList: %v", err)
	}
	for _, slot := range slots {
		ti, err := p.GetTokenInfo(slot)
		if err != nil || strings.TrimRight(ti.Label, " \x00") != tk.Label {
			continue
		}
		s, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			t.Fatalf("testlab: C_OpenSession: %v", err)
		}
		defer p.CloseSession(s)
		if err := p.Login(s, pkcs11.CKU_USER, tk.PIN); err != nil {
			t.Fatalf("testlab: C_Login: %v", err)
		}
		defer p.Logout(s)
		if err := fn(p, s); err != nil {
			t.Fatalf("testlab: %v", err)
		}
		return
	}
	t.Fatalf("testlab: token %q not found", tk.Label)
}

// populateVersion changes whenever Populate creates different objects, so
// stale cached tokens are not reused.
const populateVersion = 1

// PopulatedToken returns a token labelled label holding the n objects of
// Populate. Creating them takes SoftHSM tens of seconds, so the token
// directory is built once per machine and cached (on tmpfs when there is
// one); each caller gets its own copy.
func (h *SoftHSM) PopulatedToken(label, pin string, n int) (*Token, Population) {
	t := h.t
	t.Helper()
	q := n / 4
	pop := Population{RSAPairs: q, ECPublic: q, AESKeys: q, Objects: 4 * q}
	base := "/dev/shm"
	if st, err := os.Stat(base); err != nil || !st.IsDir() {
		base = os.TempDir()
	}
	var modSize int64
	if st, err := os.Stat(h.Module); err == nil {
		modSize = st.Size()
	}
	cache := filepath.Join(base, "keyaudit-softhsm-cache", fmt.Sprintf("v%d-%s-%s-%d-%d", populateVersion, label, pin, n, modSize))
	tokens := filepath.Join(h.Dir, "tokens")
	tk := &Token{Label: label, PIN: pin, SOPIN: "so-" + pin + "-so", h: h}
	if _, err := os.Stat(filepath.Join(cache, "done")); err != nil {
		// Build in a scratch SoftHSM, then publish atomically: parallel
		// test binaries may race to build the same cache.
		scratch := &SoftHSM{Dir: fastTempDir(t), Module: h.Module, t: t, util: h.util, tool: h.tool}
		scratch.Conf = filepath.Join(scratch.Dir, "softhsm2.conf")
		os.MkdirAll(filepath.Join(scratch.Dir, "tokens"), 0o700)
		os.WriteFile(scratch.Conf, []byte(fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", filepath.Join(scratch.Dir, "tokens"))), 0o600)
		t.Setenv("SOFTHSM2_CONF", scratch.Conf)
		stk := scratch.InitToken(label, pin)
		stk.Populate(n)
		t.Setenv("SOFTHSM2_CONF", h.Conf)
		os.WriteFile(filepath.Join(scratch.Dir, "tokens", "done"), nil, 0o600)
		os.MkdirAll(filepath.Dir(cache), 0o700)
		if err := os.Rename(filepath.Join(scratch.Dir, "tokens"), cache); err != nil {
			if _, serr := os.Stat(filepath.Join(cache, "done")); serr != nil {
				t.Fatalf("testlab: caching token: %v", err)
			}
		}
	}
	if err := os.CopyFS(tokens, os.DirFS(cache)); err != nil {
		t.Fatalf("testlab: copying cached token: %v", err)
	}
	os.Remove(filepath.Join(tokens, "done"))
	return tk, pop
}

// Population is what Populate created.
type Population struct {
	RSAPairs int // RSA private keys (modulus and exponent only) with their public keys
	ECPublic int // P-256 public keys
	AESKeys  int // sensitive AES-256 keys
	Objects  int // total objects created
}

// Populate creates n objects (n a multiple of 4) through C_CreateObject —
// pkcs11-tool would take minutes for thousands. A quarter each: RSA
// private keys, the matching RSA public keys (id shared), P-256 public
// keys, AES-256 secret keys. The RSA moduli are random odd numbers, not
// real keys: enumeration only reads them, and real 2048-bit key generation
// for thousands of keys would dominate the test.
func (tk *Token) Populate(n int) Population {
	tk.h.t.Helper()
	q := n / 4
	pop := Population{RSAPairs: q, ECPublic: q, AESKeys: q, Objects: 4 * q}
	tk.Session(func(p *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		e := []byte{1, 0, 1}
		p256, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
		for i := 0; i < q; i++ {
			id := []byte(fmt.Sprintf("k%05d", i))
			mod := randomModulus(2048)
			common := func(class uint, label string) []*pkcs11.Attribute {
				return []*pkcs11.Attribute{
					pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
					pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
					pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
					pkcs11.NewAttribute(pkcs11.CKA_ID, id),
				}
			}
			priv := append(common(pkcs11.CKO_PRIVATE_KEY, fmt.Sprintf("rsa-%05d", i)),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
				pkcs11.NewAttribute(pkcs11.CKA_MODULUS, mod),
				pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, e),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE_EXPONENT, randomModulus(2040)),
			)
			pub := append(common(pkcs11.CKO_PUBLIC_KEY, fmt.Sprintf("rsa-%05d", i)),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
				pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
				pkcs11.NewAttribute(pkcs11.CKA_MODULUS, mod),
				pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, e),
			)
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return err
			}
			ek, err := k.ECDH()
			if err != nil {
				return err
			}
			point, _ := asn1.Marshal(ek.PublicKey().Bytes()) // CKA_EC_POINT: DER OCTET STRING of the point
			ec := append(common(pkcs11.CKO_PUBLIC_KEY, fmt.Sprintf("ec-%05d", i)),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
				pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256),
				pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, point),
			)
			aesValue := make([]byte, 32)
			rand.Read(aesValue)
			aes := append(common(pkcs11.CKO_SECRET_KEY, fmt.Sprintf("aes-%05d", i)),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
				pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
				pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
				pkcs11.NewAttribute(pkcs11.CKA_VALUE, aesValue),
			)
			for _, tmpl := range [][]*pkcs11.Attribute{priv, pub, ec, aes} {
				if _, err := p.CreateObject(s, tmpl); err != nil {
					return fmt.Errorf("C_CreateObject %d: %w", i, err)
				}
			}
		}
		return nil
	})
	return pop
}

func randomModulus(bits int) []byte {
	b := make([]byte, bits/8)
	rand.Read(b)
	b[0] |= 0x80
	b[len(b)-1] |= 1
	return new(big.Int).SetBytes(b).Bytes()
}

// PublicKey reads the public key object with CKA_ID id (hex) through the
// PKCS#11 API and returns it as a crypto public key, built with Go's own
// types — an independent check of what keyaudit derives. Call it before
// the code under test loads the module.
func (tk *Token) PublicKey(id string) crypto.PublicKey {
	t := tk.h.t
	t.Helper()
	rawID, err := hex.DecodeString(id)
	if err != nil {
		t.Fatal(err)
	}
	var pub crypto.PublicKey
	tk.Session(func(p *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		if err := p.FindObjectsInit(s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_ID, rawID),
		}); err != nil {
			return err
		}
		hs, _, err := p.FindObjects(s, 2)
		p.FindObjectsFinal(s)
		if err != nil || len(hs) != 1 {
			return fmt.Errorf("public key id %s: %d objects, %v", id, len(hs), err)
		}
		a, err := p.GetAttributeValue(s, hs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil)})
		if err != nil {
			return err
		}
		switch kt := binary.NativeEndian.Uint64(a[0].Value); kt {
		case pkcs11.CKK_RSA:
			a, err := p.GetAttributeValue(s, hs[0], []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil)})
			if err != nil {
				return err
			}
			pub = &rsa.PublicKey{N: new(big.Int).SetBytes(a[0].Value), E: int(new(big.Int).SetBytes(a[1].Value).Int64())}
		case pkcs11.CKK_EC, 0x40:
			a, err := p.GetAttributeValue(s, hs[0], []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
			if err != nil {
				return err
			}
			var point []byte
			if _, err := asn1.Unmarshal(a[1].Value, &point); err != nil {
				return fmt.Errorf("CKA_EC_POINT: %w", err)
			}
			if kt == 0x40 {
				pub = ed25519.PublicKey(point)
				break
			}
			var oid asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(a[0].Value, &oid); err != nil {
				return fmt.Errorf("CKA_EC_PARAMS: %w", err)
			}
			curves := map[string]ecdh.Curve{"1.2.840.10045.3.1.7": ecdh.P256(), "1.3.132.0.34": ecdh.P384(), "1.3.132.0.35": ecdh.P521()}
			c, ok := curves[oid.String()]
			if !ok {
				return fmt.Errorf("curve %s not supported here", oid)
			}
			k, err := c.NewPublicKey(point)
			if err != nil {
				return err
			}
			// Via PKIX so the result is an *ecdsa.PublicKey.
			der, err := x509.MarshalPKIXPublicKey(k)
			if err != nil {
				return err
			}
			pub, err = x509.ParsePKIXPublicKey(der)
			return err
		default:
			return fmt.Errorf("key type 0x%x not supported here", kt)
		}
		return nil
	})
	return pub
}
