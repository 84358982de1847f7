package estate

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// RevocationServer is the estate's revocation infrastructure for one CA,
// on one loopback HTTP address: an OCSP responder that answers each
// request with the OpenSSL CLI (`openssl ocsp -index … -reqin …
// -respout …`, signing with a delegated responder certificate; `openssl
// ocsp -port` would listen on every address), the CA's CRL at /ca.crl and
// its certificate (for AIA caIssuers) at /ca.der.
type RevocationServer struct {
	// OCSPURL, CRLURL and IssuerURL are what the CA's leaves point at.
	OCSPURL, CRLURL, IssuerURL string

	ca      *CA
	dir     string
	openssl string
	srv     *http.Server
	mu      sync.Mutex
	index   map[string]string
	revoked []x509.RevocationListEntry
	crl     []byte
	n       int
	// removeDir is set when dir is the server's own temporary directory.
	removeDir bool
}

// StartRevocation serves ca's OCSP, CRL and certificate on addr (ip:port)
// with its state in dir. It needs the openssl binary.
func StartRevocation(dir, addr string, ca *CA) (*RevocationServer, error) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		return nil, fmt.Errorf("estate: revocation server: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("estate: revocation server: %w", err)
	}
	signer, key, err := ca.OCSPSigner(ca.Cert.Subject.CommonName+" OCSP responder", true)
	if err != nil {
		return nil, err
	}
	keyPEM, err := PEMKey(key)
	if err != nil {
		return nil, err
	}
	for name, b := range map[string][]byte{"ca.pem": PEMChain([][]byte{ca.Cert.Raw}), "signer.pem": PEMChain([][]byte{signer.Raw}), "signer.key": keyPEM, "index.txt": nil} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, fmt.Errorf("estate: revocation server: %w", err)
		}
	}
	l, err := Listen(addr)
	if err != nil {
		return nil, err
	}
	r := &RevocationServer{ca: ca, dir: dir, openssl: bin, index: map[string]string{}}
	if err := r.reissueCRL(); err != nil {
		l.Close()
		return nil, err
	}
	base := "http://" + l.Addr().String()
	r.OCSPURL, r.CRLURL, r.IssuerURL = base+"/ocsp", base+"/ca.crl", base+"/ca.der"
	mux := http.NewServeMux()
	mux.HandleFunc("/ocsp", r.serveOCSP)
	mux.HandleFunc("/ocsp/", r.serveOCSP)
	mux.HandleFunc("/ca.der", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-cert")
		_, _ = w.Write(ca.Cert.Raw)
	})
	mux.HandleFunc("/ca.crl", func(w http.ResponseWriter, _ *http.Request) {
		r.mu.Lock()
		crl := r.crl
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(crl)
	})
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(l) //nolint:errcheck // ends with Close
	return r, nil
}

// Close stops the server (and removes its temporary directory).
func (r *RevocationServer) Close() error {
	err := r.srv.Close()
	if r.removeDir {
		os.RemoveAll(filepath.Dir(r.dir))
	}
	return err
}

// Good lists cert as valid.
func (r *RevocationServer) Good(cert *x509.Certificate) { r.set(cert, "V", "") }

// Revoke lists cert as revoked at when for reason (an RFC 5280 reason
// name and code, e.g. "keyCompromise", 1) in the OCSP index and the CRL.
func (r *RevocationServer) Revoke(cert *x509.Certificate, when time.Time, reason string, code int) error {
	r.set(cert, "R", when.UTC().Format("060102150405Z")+","+reason)
	r.mu.Lock()
	r.revoked = append(r.revoked, x509.RevocationListEntry{SerialNumber: new(big.Int).Set(cert.SerialNumber), RevocationTime: when, ReasonCode: code})
	r.mu.Unlock()
	return r.reissueCRL()
}

func (r *RevocationServer) reissueCRL() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	crl, err := r.ca.CRL(r.revoked, 24*time.Hour)
	if err != nil {
		return err
	}
	r.crl = crl
	return nil
}

func (r *RevocationServer) set(cert *x509.Certificate, status, rev string) {
	serial := strings.ToUpper(cert.SerialNumber.Text(16))
	if len(serial)%2 == 1 {
		serial = "0" + serial
	}
	line := strings.Join([]string{status, cert.NotAfter.UTC().Format("060102150405Z"), rev, serial, "unknown", "/CN=" + cert.Subject.CommonName}, "\t")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.index[serial] = line
	var b strings.Builder
	for _, l := range r.index {
		b.WriteString(l + "\n")
	}
	_ = os.WriteFile(filepath.Join(r.dir, "index.txt"), []byte(b.String()), 0o600)
}

func (r *RevocationServer) serveOCSP(w http.ResponseWriter, req *http.Request) {
	var body []byte
	var err error
	switch req.Method {
	case http.MethodPost:
		body, err = io.ReadAll(io.LimitReader(req.Body, 64<<10))
	case http.MethodGet:
		var p string
		if p, err = url.PathUnescape(strings.TrimPrefix(req.URL.Path, "/ocsp/")); err == nil {
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
	r.mu.Lock()
	defer r.mu.Unlock() // index.txt is rewritten by Good and Revoke
	r.n++
	reqPath, respPath := filepath.Join(r.dir, fmt.Sprintf("req%d.der", r.n)), filepath.Join(r.dir, fmt.Sprintf("resp%d.der", r.n))
	defer os.Remove(reqPath)
	defer os.Remove(respPath)
	if err := os.WriteFile(reqPath, body, 0o600); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.openssl, "ocsp", "-index", "index.txt", "-CA", "ca.pem", "-rsigner", "signer.pem", "-rkey", "signer.key",
		"-reqin", reqPath, "-respout", respPath, "-nmin", "60")
	cmd.Dir = r.dir
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
