package testlab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PyKMIP server locations: the Debian package's entry point, run with
// Debian's own python (another python on PATH lacks the package).
const (
	PyKMIPServer = "/usr/bin/pykmip-server"
	PyKMIPPython = "/usr/bin/python3"
)

// PyKMIP is a PyKMIP server private to one test, on a loopback address,
// speaking KMIP over TLS 1.2 and requiring a client certificate. Its
// certificates, config, policy directory, SQLite database and log live in
// a temp dir.
type PyKMIP struct {
	Addr string // host:port on 127.0.0.1
	Dir  string
	// CAFile signs the server's and the client's certificates.
	CAFile string
	// ClientCert and ClientKey are the client identity (PEM files, the
	// key mode 0600); every object it registers belongs to it.
	ClientCert, ClientKey string
	// PID is the server process, stopped in cleanup.
	PID int
}

// StartPyKMIP starts a PyKMIP server (Debian python3-pykmip 0.10). It
// skips the test (fails it under CI) when the package is missing.
func StartPyKMIP(t testing.TB) *PyKMIP {
	t.Helper()
	for _, p := range []string{PyKMIPServer, PyKMIPPython} {
		if _, err := os.Stat(p); err != nil {
			Missing(t, fmt.Sprintf("%s not installed (apt-get install python3-pykmip; bash .ci/run installs it)", p))
		}
	}
	dir := t.TempDir()
	k := &PyKMIP{Dir: dir}
	ip := "127.0.0.1"
	port := FreePort(t, ip)
	k.Addr = net.JoinHostPort(ip, fmt.Sprint(port))
	MustLoopback(t, k.Addr)

	ca, caKey := kmipCert(t, nil, nil, "keyaudit test KMIP CA", 0)
	k.CAFile = filepath.Join(dir, "ca.pem")
	writePEM(t, k.CAFile, "CERTIFICATE", ca.Raw)
	srv, srvKey := kmipCert(t, ca, caKey, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", srv.Raw)
	writeKey(t, filepath.Join(dir, "server-key.pem"), srvKey)
	cli, cliKey := kmipCert(t, ca, caKey, "keyaudit-test-client", x509.ExtKeyUsageClientAuth)
	k.ClientCert, k.ClientKey = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	writePEM(t, k.ClientCert, "CERTIFICATE", cli.Raw)
	writeKey(t, k.ClientKey, cliKey)

	policies := filepath.Join(dir, "policies")
	if err := os.Mkdir(policies, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`[server]
hostname=%s
port=%d
certificate_path=%s
key_path=%s
ca_path=%s
auth_suite=TLS1.2
policy_path=%s
enable_tls_client_auth=True
logging_level=DEBUG
database_path=%s
`, ip, port, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), k.CAFile,
		policies, filepath.Join(dir, "pykmip.db"))
	confPath := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := StartProcess(t, dir, PyKMIPPython, PyKMIPServer, "-f", confPath, "-l", filepath.Join(dir, "server.log"))
	k.PID = cmd.Process.Pid
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "server.log")); err == nil {
				t.Logf("pykmip server.log:\n%s", tail(b, 4000))
			}
		}
	})
	WaitTCP(t, k.Addr, 30*time.Second)
	return k
}

// kmipCert issues an ECDSA P-256 certificate: a self-signed CA when
// parent is nil, else a leaf for eku (a server leaf names 127.0.0.1).
func kmipCert(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, eku x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		signer, signerKey = parent, parentKey
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{eku}
		if eku == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.ParseIP(cn)}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeKey(t testing.TB, path string, key *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, path, "PRIVATE KEY", der)
}
