package estate

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// SoftHSMModule is Debian's SoftHSM2 PKCS#11 module.
const SoftHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// SoftHSM is a SoftHSM2 token directory of the demo.
type SoftHSM struct {
	// Conf is the SOFTHSM2_CONF path every process using the token needs.
	Conf    string
	Label   string
	PINFile string
	pin     string
}

// NewSoftHSM initialises a token labelled label under dir with a random
// user PIN written to dir/pin (mode 0600).
func NewSoftHSM(ctx context.Context, dir, label string) (*SoftHSM, error) {
	tokens := filepath.Join(dir, "tokens")
	_ = os.RemoveAll(tokens) // one token of this label, with this PIN
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens)), 0o600); err != nil {
		return nil, err
	}
	h := &SoftHSM{Conf: conf, Label: label, PINFile: filepath.Join(dir, "pin"), pin: fmt.Sprintf("%x", randSerial().Bytes()[:6])}
	if err := os.WriteFile(h.PINFile, []byte(h.pin+"\n"), 0o600); err != nil {
		return nil, err
	}
	so := fmt.Sprintf("%x", randSerial().Bytes()[:8])
	if _, err := h.run(ctx, "softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", so, "--pin", h.pin); err != nil {
		return nil, err
	}
	return h, nil
}

// run executes a SoftHSM tool with the token's configuration. PINs go
// on these tools' command lines only because they are demo tokens.
func (h *SoftHSM) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+h.Conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("estate: %s %s: %v: %s", name, args[0], err, strings.ReplaceAll(string(out), h.pin, "***"))
	}
	return string(out), nil
}

func (h *SoftHSM) tool(ctx context.Context, args ...string) error {
	base := []string{"--module", SoftHSMModule, "--token-label", h.Label, "--login", "--pin", h.pin}
	_, err := h.run(ctx, "pkcs11-tool", append(base, args...)...)
	return err
}

// ImportKey stores a private key (and its certificate, when der is set)
// under label and id; sensitive marks it CKA_SENSITIVE, otherwise it is
// left extractable, as a badly imported key would be.
func (h *SoftHSM) ImportKey(ctx context.Context, dir string, key crypto.PrivateKey, certDER []byte, label, id string, sensitive bool) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	kp := filepath.Join(dir, label+".key.der")
	if err := os.WriteFile(kp, der, 0o600); err != nil {
		return err
	}
	defer os.Remove(kp)
	args := []string{"--write-object", kp, "--type", "privkey", "--label", label, "--id", id, "--usage-sign"}
	if sensitive {
		args = append(args, "--sensitive")
	} else {
		args = append(args, "--extractable")
	}
	if err := h.tool(ctx, args...); err != nil {
		return err
	}
	if certDER != nil {
		cp := filepath.Join(dir, label+".crt.der")
		if err := os.WriteFile(cp, certDER, 0o644); err != nil {
			return err
		}
		defer os.Remove(cp)
		if err := h.tool(ctx, "--write-object", cp, "--type", "cert", "--label", label, "--id", id); err != nil {
			return err
		}
	}
	return nil
}

// GenerateKeyPair generates a key pair inside the token ("rsa:2048",
// "EC:prime256v1").
func (h *SoftHSM) GenerateKeyPair(ctx context.Context, keyType, label, id string) error {
	return h.tool(ctx, "--keypairgen", "--key-type", keyType, "--label", label, "--id", id, "--usage-sign")
}

// GenerateSecret generates a secret key ("AES:32") inside the token.
func (h *SoftHSM) GenerateSecret(ctx context.Context, keyType, label string, sensitive bool) error {
	args := []string{"--keygen", "--key-type", keyType, "--label", label}
	if sensitive {
		args = append(args, "--sensitive")
	} else {
		args = append(args, "--extractable")
	}
	return h.tool(ctx, args...)
}

// URI is the RFC 7512 URI keyaudit inventories the token with.
func (h *SoftHSM) URI() string {
	return fmt.Sprintf("pkcs11:token=%s?module-path=%s&pin-source=file:%s", h.Label, SoftHSMModule, h.PINFile)
}

// PEMCert is a helper for demo configs.
func PEMCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
