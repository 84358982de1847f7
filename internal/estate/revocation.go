package estate

import (
	"crypto/x509"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
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
	ocsp    *OpenSSLOCSP
	srv     *http.Server
	mu      sync.Mutex
	revoked []x509.RevocationListEntry
	crl     []byte
	// removeDir is set when dir is the server's own temporary directory.
	removeDir bool
}

// StartRevocation serves ca's OCSP, CRL and certificate on addr (ip:port)
// with its state in dir. It needs the openssl binary.
func StartRevocation(dir, addr string, ca *CA) (*RevocationServer, error) {
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
	ocsp, err := NewOpenSSLOCSP(dir, "/ocsp/", PEMChain([][]byte{ca.Cert.Raw}), PEMChain([][]byte{signer.Raw}), keyPEM, 60)
	if err != nil {
		return nil, err
	}
	l, err := Listen(addr)
	if err != nil {
		return nil, err
	}
	r := &RevocationServer{ca: ca, dir: dir, ocsp: ocsp}
	if err := r.reissueCRL(); err != nil {
		l.Close()
		return nil, err
	}
	base := "http://" + l.Addr().String()
	r.OCSPURL, r.CRLURL, r.IssuerURL = base+"/ocsp", base+"/ca.crl", base+"/ca.der"
	mux := http.NewServeMux()
	mux.Handle("/ocsp", ocsp)
	mux.Handle("/ocsp/", ocsp)
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
func (r *RevocationServer) Good(cert *x509.Certificate) { r.ocsp.Good(cert) }

// Revoke lists cert as revoked at when for reason (an RFC 5280 reason
// name and code, e.g. "keyCompromise", 1) in the OCSP index and the CRL.
func (r *RevocationServer) Revoke(cert *x509.Certificate, when time.Time, reason string, code int) error {
	r.ocsp.Revoke(cert, when, reason)
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
