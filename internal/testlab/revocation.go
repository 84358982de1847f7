package testlab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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

// OCSPResponder answers OCSP requests with the OpenSSL CLI: an HTTP front
// on a loopback address (openssl ocsp -port would listen on every
// address) that runs `openssl ocsp -index … -reqin … -respout …` once per
// request, GET (/<base64>) and POST alike.
type OCSPResponder struct {
	URL     string
	dir     string
	openssl string
	mu      sync.Mutex
	index   map[string]string // serial → index.txt line
	n       int
	// NextUpdate is the -nmin given to openssl (0: no nextUpdate).
	nextMin int
}

// StartOCSP starts a responder for the CA caPEM, signing with signerPEM
// and signerKeyPEM (the CA itself, or a delegated responder with
// id-kp-OCSPSigning). nextUpdate > 0 sets each response's nextUpdate that
// far ahead (whole minutes).
func StartOCSP(t testing.TB, ip string, caPEM, signerPEM, signerKeyPEM []byte, nextUpdate time.Duration) *OCSPResponder {
	t.Helper()
	bin := Need(t, "openssl")
	dir := t.TempDir()
	for name, b := range map[string][]byte{"ca.pem": caPEM, "signer.pem": signerPEM, "signer.key": signerKeyPEM, "index.txt": nil} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatalf("testlab: ocsp: %v", err)
		}
	}
	r := &OCSPResponder{dir: dir, openssl: bin, index: map[string]string{}, nextMin: int(nextUpdate / time.Minute)}
	r.URL = serveHTTP(t, ip, http.HandlerFunc(r.serve))
	return r
}

// Requests returns how many requests the responder answered.
func (r *OCSPResponder) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Good lists cert as valid in the responder's index.
func (r *OCSPResponder) Good(cert *x509.Certificate) {
	r.set(cert, "V", "")
}

// Revoke lists cert as revoked at when for reason (keyCompromise,
// superseded …).
func (r *OCSPResponder) Revoke(cert *x509.Certificate, when time.Time, reason string) {
	r.set(cert, "R", when.UTC().Format("060102150405Z")+","+reason)
}

func (r *OCSPResponder) set(cert *x509.Certificate, status, rev string) {
	serial := strings.ToUpper(cert.SerialNumber.Text(16))
	if len(serial)%2 == 1 {
		serial = "0" + serial
	}
	line := strings.Join([]string{status, cert.NotAfter.UTC().Format("060102150405Z"), rev, serial, "unknown", "/" + strings.ReplaceAll(cert.Subject.String(), ",", "/")}, "\t")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.index[serial] = line
	var b strings.Builder
	for _, l := range r.index {
		b.WriteString(l + "\n")
	}
	_ = os.WriteFile(filepath.Join(r.dir, "index.txt"), []byte(b.String()), 0o600)
}

func (r *OCSPResponder) serve(w http.ResponseWriter, req *http.Request) {
	var body []byte
	switch req.Method {
	case http.MethodPost:
		b, err := io.ReadAll(io.LimitReader(req.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = b
	case http.MethodGet:
		p, err := url.PathUnescape(strings.TrimPrefix(req.URL.Path, "/"))
		if err == nil {
			body, err = base64.StdEncoding.DecodeString(p)
		}
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	r.mu.Lock()
	r.n++
	n := r.n
	r.mu.Unlock()
	reqPath := filepath.Join(r.dir, fmt.Sprintf("req%d.der", n))
	respPath := filepath.Join(r.dir, fmt.Sprintf("resp%d.der", n))
	if err := os.WriteFile(reqPath, body, 0o600); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	args := []string{"ocsp", "-index", "index.txt", "-CA", "ca.pem", "-rsigner", "signer.pem", "-rkey", "signer.key", "-reqin", reqPath, "-respout", respPath}
	if r.nextMin > 0 {
		args = append(args, "-nmin", fmt.Sprint(r.nextMin))
	}
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	r.mu.Lock() // index.txt is rewritten by Good/Revoke
	cmd := exec.CommandContext(ctx, r.openssl, args...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	r.mu.Unlock()
	if err != nil {
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
