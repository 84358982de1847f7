package revoke

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/acme"

	"github.com/keyaudit/keyaudit/internal/certinfo"
)

const problemAlreadyRevoked = "urn:ietf:params:acme:error:alreadyRevoked"

// ACMEExecutor revokes through an ACME CA (RFC 8555 §7.6 revokeCert).
// The request is signed with the account key (JWS "kid": the account
// that ordered the certificate) or, for certificate-key actions, with the
// certificate's own private key (JWS "jwk"). Any crypto.Signer works, so a
// key held in an HSM signs without leaving it.
type ACMEExecutor struct {
	DirectoryURL string
	// AccountKey signs account-key actions; nil when none are planned.
	AccountKey crypto.Signer
	// CertKeys sign certificate-key actions, by the certificate key's
	// spki_sha256 (see AddCertKey).
	CertKeys map[string]crypto.Signer
	// HTTPClient reaches the CA (nil: http.DefaultClient).
	HTTPClient *http.Client
	UserAgent  string

	once   sync.Once
	client *acme.Client
}

// AddCertKey registers a certificate's private key for certificate-key
// actions.
func (x *ACMEExecutor) AddCertKey(k crypto.Signer) error {
	spki, err := certinfo.SPKISHA256(k.Public())
	if err != nil {
		return err
	}
	if x.CertKeys == nil {
		x.CertKeys = map[string]crypto.Signer{}
	}
	x.CertKeys[spki] = k
	return nil
}

// Check implements Executor.
func (x *ACMEExecutor) Check(a Action) error {
	if x.DirectoryURL == "" {
		return errors.New("no ACME directory URL (--acme-directory or revoke.acme-directory)")
	}
	if a.Directory != "" && strings.TrimRight(a.Directory, "/") != strings.TrimRight(x.DirectoryURL, "/") {
		return fmt.Errorf("the plan sends this revocation to %s, not to %s", a.Directory, x.DirectoryURL)
	}
	switch a.Auth {
	case AuthAccountKey:
		if x.AccountKey == nil {
			return errors.New("no ACME account key (--account-key-file, or the variable named by --account-key-env)")
		}
	case AuthCertificateKey:
		if x.CertKeys[a.Certificate.SPKISHA256] == nil {
			return fmt.Errorf("no private key for this certificate's key (spki_sha256 %s): pass it with --cert-key-file, or --cert-key-pkcs11 when it is in a token", ShortHash(a.Certificate.SPKISHA256))
		}
	default:
		return fmt.Errorf("unknown ACME authorisation %q", a.Auth)
	}
	return nil
}

// Revoke implements Executor.
func (x *ACMEExecutor) Revoke(ctx context.Context, r Request) Result {
	a := r.Action
	if err := x.Check(a); err != nil {
		return Result{Outcome: OutcomeFailed, Message: err.Error()}
	}
	der, err := a.Certificate.DER()
	if err != nil {
		return Result{Outcome: OutcomeFailed, Message: err.Error()}
	}
	x.once.Do(func() {
		hc := x.HTTPClient
		if hc == nil {
			hc = http.DefaultClient
		}
		wrapped := *hc
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		wrapped.Transport = &problemRecorder{base: base}
		x.client = &acme.Client{Key: x.AccountKey, DirectoryURL: x.DirectoryURL, HTTPClient: &wrapped, UserAgent: x.UserAgent}
	})
	var key crypto.Signer // nil: the account key, by kid
	if a.Auth == AuthCertificateKey {
		key = x.CertKeys[a.Certificate.SPKISHA256]
	}
	rec := &recorded{}
	err = x.client.RevokeCert(context.WithValue(ctx, recorderKey{}, rec), key, der, acme.CRLReasonCode(a.Reason.Code))
	if err != nil {
		res := Result{Outcome: OutcomeFailed, Message: "ACME revokeCert: " + oneLine(err.Error())}
		var ae *acme.Error
		if errors.As(err, &ae) {
			res.HTTPStatus, res.ProblemType = ae.StatusCode, ae.ProblemType
			res.Message = fmt.Sprintf("ACME revokeCert: HTTP %d %s: %s", ae.StatusCode, ae.ProblemType, oneLine(ae.Detail))
		}
		return res
	}
	// x/crypto/acme treats alreadyRevoked as success; the recorder saw
	// the CA's actual answer.
	if rec.problemType() == problemAlreadyRevoked {
		return Result{Outcome: OutcomeAlreadyRevoked, HTTPStatus: rec.status(), ProblemType: problemAlreadyRevoked, Message: "the CA says it was already revoked"}
	}
	return Result{Outcome: OutcomeRevoked, HTTPStatus: http.StatusOK, Message: fmt.Sprintf("revoked by %s (%s)", x.DirectoryURL, a.Auth)}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// problemRecorder notes the problem type of error answers to requests
// whose context carries a *recorded, without changing what the client
// sees.
type problemRecorder struct{ base http.RoundTripper }

type recorderKey struct{}

type recorded struct {
	mu   sync.Mutex
	code int
	typ  string
}

func (r *recorded) problemType() string { r.mu.Lock(); defer r.mu.Unlock(); return r.typ }
func (r *recorded) status() int         { r.mu.Lock(); defer r.mu.Unlock(); return r.code }

func (t *problemRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	rec, _ := req.Context().Value(recorderKey{}).(*recorded)
	if err != nil || rec == nil || req.Method != http.MethodPost || res.StatusCode < 400 {
		return res, err
	}
	body, rerr := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return res, nil
	}
	var prob struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &prob) == nil {
		rec.mu.Lock()
		rec.code, rec.typ = res.StatusCode, prob.Type
		rec.mu.Unlock()
	}
	return res, nil
}

// ParsePrivateKey reads a PEM private key (PKCS#8, SEC 1 EC or PKCS#1
// RSA). Errors never quote the key.
func ParsePrivateKey(b []byte) (crypto.Signer, error) {
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, errors.New("no PEM private key found")
		}
		var k any
		var err error
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported: decrypt it into a file readable only by keyaudit's user")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s block does not parse", blk.Type)
		}
		switch s := k.(type) {
		case *ecdsa.PrivateKey:
			return s, nil
		case *rsa.PrivateKey:
			return s, nil
		case ed25519.PrivateKey:
			return nil, errors.New("ACME (RFC 8555 / RFC 7518) signs with RSA or ECDSA keys; Ed25519 is not supported by golang.org/x/crypto/acme")
		default:
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
	}
}
