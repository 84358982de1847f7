package estate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	lkms "github.com/nsmithuk/local-kms/src"
	lkmsconfig "github.com/nsmithuk/local-kms/src/config"
	lkmsdata "github.com/nsmithuk/local-kms/src/data"
	"github.com/sirupsen/logrus"
)

// PyKMIP server locations: the Debian package's entry point, run with
// Debian's own python (another python on PATH lacks the package).
const (
	PyKMIPServer = "/usr/bin/pykmip-server"
	PyKMIPPython = "/usr/bin/python3"
)

// KMIPServer is a PyKMIP server on a loopback address, speaking KMIP over
// TLS 1.2 and requiring a client certificate. Its certificates, config,
// policy directory, SQLite database and log live in Dir.
type KMIPServer struct {
	Addr string // host:port
	Dir  string
	// CAFile signs the server's and the client's certificates.
	CAFile string
	// ClientCert and ClientKey are the client identity (PEM files, the
	// key mode 0600); every object it registers belongs to it.
	ClientCert, ClientKey string
	*Process
}

// StartPyKMIP starts PyKMIP (Debian python3-pykmip 0.10) on addr, which
// must be a loopback host:port, with its state in dir.
func StartPyKMIP(ctx context.Context, dir, addr string) (*KMIPServer, error) {
	for _, p := range []string{PyKMIPServer, PyKMIPPython} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("estate: %s not installed (apt-get install python3-pykmip)", p)
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("estate: KMIP address %q is not a loopback host:port", addr)
	}
	if err := os.MkdirAll(filepath.Join(dir, "policies"), 0o700); err != nil {
		return nil, err
	}
	k := &KMIPServer{Addr: addr, Dir: dir, CAFile: filepath.Join(dir, "ca.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem")}
	ca, caKey, err := kmipCert(nil, nil, "keyaudit KMIP CA", 0)
	if err != nil {
		return nil, err
	}
	srv, srvKey, err := kmipCert(ca, caKey, host, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, err
	}
	cli, cliKey, err := kmipCert(ca, caKey, "keyaudit-client", x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, err
	}
	srvDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return nil, err
	}
	cliDER, err := x509.MarshalPKCS8PrivateKey(cliKey)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{k.CAFile, "CERTIFICATE", ca.Raw}, {filepath.Join(dir, "server.pem"), "CERTIFICATE", srv.Raw}, {k.ClientCert, "CERTIFICATE", cli.Raw},
		{filepath.Join(dir, "server-key.pem"), "PRIVATE KEY", srvDER}, {k.ClientKey, "PRIVATE KEY", cliDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return nil, err
		}
	}
	conf := fmt.Sprintf(`[server]
hostname=%s
port=%s
certificate_path=%s
key_path=%s
ca_path=%s
auth_suite=TLS1.2
policy_path=%s
enable_tls_client_auth=True
logging_level=DEBUG
database_path=%s
`, host, port, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), k.CAFile,
		filepath.Join(dir, "policies"), filepath.Join(dir, "pykmip.db"))
	confPath := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	p, err := Start(dir, PyKMIPPython, PyKMIPServer, "-f", confPath, "-l", filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	k.Process = p
	if err := WaitTCP(ctx, p, addr, 30*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return k, nil
}

// kmipCert issues an ECDSA P-256 certificate: a self-signed CA when
// parent is nil, else a leaf for eku (a server leaf names its IP).
func kmipCert(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, eku x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour)}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		signer, signerKey = parent, parentKey
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{eku}
		if ip := net.ParseIP(cn); ip != nil {
			tmpl.IPAddresses = []net.IP{ip}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), signerKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return c, key, nil
}

// LocalKMSAccount is the account of every local-kms the estate serves.
const LocalKMSAccount = "111122223333"

// local-kms keeps its region, account and database path in package
// variables read by every request: one region per process.
var (
	localKMSOnce   sync.Once
	localKMSRegion string
)

// LocalKMS is local-kms (github.com/nsmithuk/local-kms), an AWS KMS API
// emulator, served on a loopback listener.
type LocalKMS struct {
	// Endpoint is its base URL, http://ADDR.
	Endpoint        string
	Region, Account string
	srv             *http.Server
	db              *lkmsdata.Database
	done            chan error
}

// StartLocalKMS serves local-kms's own request handler on addr (a
// loopback host:port; port 0 picks one), doing what its main does
// (KMS_ACCOUNT_ID, KMS_REGION, KMS_DATA_PATH) with its database in dir,
// but without its main's listener on every address. Every instance in a
// process must use the same region.
func StartLocalKMS(dir, addr, region string) (*LocalKMS, error) {
	localKMSOnce.Do(func() {
		localKMSRegion = region
		lkmsconfig.AWSRegion = region
		lkmsconfig.AWSAccountId = LocalKMSAccount
		// It logs every request at info level through logrus' standard
		// logger; warnings (a key pending deletion) are enough.
		logrus.SetLevel(logrus.WarnLevel)
	})
	if region != localKMSRegion {
		return nil, fmt.Errorf("estate: local-kms already runs for region %s in this process, not %s", localKMSRegion, region)
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("estate: local-kms address %q is not a loopback host:port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("estate: local-kms: %w", err)
	}
	// Only its seeding (unused here) reads DatabasePath; the handler gets
	// the database it is given.
	db := lkmsdata.NewDatabase(dir)
	l := &LocalKMS{Endpoint: "http://" + ln.Addr().String(), Region: region, Account: LocalKMSAccount, db: db, done: make(chan error, 1),
		srv: &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lkms.HandleRequest(w, r, db)
		})}}
	go func() { l.done <- l.srv.Serve(ln) }()
	return l, nil
}

// Close stops the server and closes its database.
func (l *LocalKMS) Close() error {
	l.srv.Close()
	err := <-l.done
	l.db.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
