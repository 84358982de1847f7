package estate

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// OpenSSLOCSP answers OCSP requests with the OpenSSL CLI, one `openssl
// ocsp -index … -reqin … -respout …` per request, over the index file it
// keeps in its folder. It is an http.Handler for GET (/<prefix><base64>)
// and POST, to be served on a loopback address: `openssl ocsp -port`
// would listen on every address. The demo estate's revocation server and
// the tests' responders share it.
type OpenSSLOCSP struct {
	dir, openssl, prefix string
	nextMin              int

	mu    sync.Mutex // index.txt is rewritten by Good and Revoke
	index map[string]string
	n     int
}

// NewOpenSSLOCSP writes the CA and signer (the CA itself, or a delegated
// responder with id-kp-OCSPSigning) into dir and answers for them. GET
// requests carry the base64 request after prefix ("/" or "/ocsp/").
// nextMin > 0 sets each response's nextUpdate that many minutes ahead.
func NewOpenSSLOCSP(dir, prefix string, caPEM, signerPEM, signerKeyPEM []byte, nextMin int) (*OpenSSLOCSP, error) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		return nil, fmt.Errorf("estate: ocsp: %w", err)
	}
	for name, b := range map[string][]byte{"ca.pem": caPEM, "signer.pem": signerPEM, "signer.key": signerKeyPEM, "index.txt": nil} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, fmt.Errorf("estate: ocsp: %w", err)
		}
	}
	return &OpenSSLOCSP{dir: dir, openssl: bin, prefix: prefix, nextMin: nextMin, index: map[string]string{}}, nil
}

// Requests returns how many requests were answered.
func (o *OpenSSLOCSP) Requests() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// Good lists cert as valid.
func (o *OpenSSLOCSP) Good(cert *x509.Certificate) { o.set(cert, "V", "") }

// Revoke lists cert as revoked at when for reason (keyCompromise,
// superseded …).
func (o *OpenSSLOCSP) Revoke(cert *x509.Certificate, when time.Time, reason string) {
	o.set(cert, "R", when.UTC().Format("060102150405Z")+","+reason)
}

func (o *OpenSSLOCSP) set(cert *x509.Certificate, status, rev string) {
	serial := strings.ToUpper(cert.SerialNumber.Text(16))
	if len(serial)%2 == 1 {
		serial = "0" + serial
	}
	line := strings.Join([]string{status, cert.NotAfter.UTC().Format("060102150405Z"), rev, serial, "unknown", "/" + strings.ReplaceAll(cert.Subject.String(), ",", "/")}, "\t")
	o.mu.Lock()
	defer o.mu.Unlock()
	o.index[serial] = line
	var b strings.Builder
	for _, l := range o.index {
		b.WriteString(l + "\n")
	}
	_ = os.WriteFile(filepath.Join(o.dir, "index.txt"), []byte(b.String()), 0o600)
}

// ServeHTTP answers one OCSP request.
func (o *OpenSSLOCSP) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body []byte
	var err error
	switch req.Method {
	case http.MethodPost:
		body, err = io.ReadAll(io.LimitReader(req.Body, 64<<10))
	case http.MethodGet:
		var p string
		if p, err = url.PathUnescape(strings.TrimPrefix(req.URL.Path, o.prefix)); err == nil {
			body, err = base64.StdEncoding.DecodeString(p)
		}
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	reqPath, respPath := filepath.Join(o.dir, fmt.Sprintf("req%d.der", o.n)), filepath.Join(o.dir, fmt.Sprintf("resp%d.der", o.n))
	defer os.Remove(reqPath)
	defer os.Remove(respPath)
	if err := os.WriteFile(reqPath, body, 0o600); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	args := []string{"ocsp", "-index", "index.txt", "-CA", "ca.pem", "-rsigner", "signer.pem", "-rkey", "signer.key", "-reqin", reqPath, "-respout", respPath}
	if o.nextMin > 0 {
		args = append(args, "-nmin", fmt.Sprint(o.nextMin))
	}
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.openssl, args...)
	cmd.Dir = o.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		http.Error(w, fmt.Sprintf("openssl ocsp: %v: %s", err, out), http.StatusInternalServerError)
		return
	}
	resp, err := os.ReadFile(respPath)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(resp)
}
