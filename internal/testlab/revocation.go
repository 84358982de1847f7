package testlab

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
)

// FileServer serves byte slices over loopback HTTP (CRLs, caIssuers
// certificates), with ETag and Last-Modified so conditional GETs work,
// and counts the requests of each path.
type FileServer struct {
	URL string // http://ip:port, no trailing slash
	mu  sync.Mutex
	f   map[string]servedFile
	n   map[string]int
	// Status, when set for a path, is answered instead of the file.
	status map[string]int
	// redirect maps a path to the URL it redirects to.
	redirect map[string]string
}

type servedFile struct {
	body []byte
	mod  time.Time
}

// ServeFiles starts a FileServer on ip (a loopback address).
func ServeFiles(t testing.TB, ip string) *FileServer {
	t.Helper()
	fs := &FileServer{f: map[string]servedFile{}, n: map[string]int{}, status: map[string]int{}, redirect: map[string]string{}}
	fs.URL = serveHTTP(t, ip, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.n[r.URL.Path]++
		f, ok := fs.f[r.URL.Path]
		st := fs.status[r.URL.Path]
		to := fs.redirect[r.URL.Path]
		fs.mu.Unlock()
		if to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		if st != 0 {
			w.WriteHeader(st)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256(f.body)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
		http.ServeContent(w, r, "", f.mod, bytes.NewReader(f.body))
	}))
	return fs
}

// Set serves body at path (modified now).
func (fs *FileServer) Set(path string, body []byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f[path] = servedFile{body: body, mod: time.Now().Truncate(time.Second)}
}

// SetStatus answers every request of path with status (0: serve the file).
func (fs *FileServer) SetStatus(path string, status int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.status[path] = status
}

// Redirect answers every request of path with a 302 to url.
func (fs *FileServer) Redirect(path, url string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.redirect[path] = url
}

// Requests returns how many requests path received.
func (fs *FileServer) Requests(path string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.n[path]
}

// serveHTTP serves h on a free port of ip until the test ends.
func serveHTTP(t testing.TB, ip string, h http.Handler) string {
	t.Helper()
	MustLoopback(t, ip)
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("testlab: listen on %s: %v", ip, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// OCSPResponder answers OCSP requests with the OpenSSL CLI
// (estate.OpenSSLOCSP) behind an HTTP front on a loopback address, GET
// (/<base64>) and POST alike.
type OCSPResponder struct {
	URL string
	*estate.OpenSSLOCSP
}

// StartOCSP starts a responder for the CA caPEM, signing with signerPEM
// and signerKeyPEM (the CA itself, or a delegated responder with
// id-kp-OCSPSigning). nextUpdate > 0 sets each response's nextUpdate that
// far ahead (whole minutes).
func StartOCSP(t testing.TB, ip string, caPEM, signerPEM, signerKeyPEM []byte, nextUpdate time.Duration) *OCSPResponder {
	t.Helper()
	Need(t, "openssl")
	o, err := estate.NewOpenSSLOCSP(t.TempDir(), "/", caPEM, signerPEM, signerKeyPEM, int(nextUpdate/time.Minute))
	if err != nil {
		t.Fatalf("testlab: ocsp: %v", err)
	}
	return &OCSPResponder{URL: serveHTTP(t, ip, o), OpenSSLOCSP: o}
}

// PEMCert encodes a certificate as PEM.
func PEMCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// PEMKey encodes a private key as PKCS#8 PEM.
func PEMKey(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testlab: marshal key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
