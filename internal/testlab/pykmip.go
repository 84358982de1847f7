package testlab

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyaudit/keyaudit/internal/estate"
)

// PyKMIP server locations (estate's).
const (
	PyKMIPServer = estate.PyKMIPServer
	PyKMIPPython = estate.PyKMIPPython
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

// StartPyKMIP starts a PyKMIP server (Debian python3-pykmip 0.10,
// estate.StartPyKMIP). It skips the test (fails it under CI) when the
// package is missing.
func StartPyKMIP(t testing.TB) *PyKMIP {
	t.Helper()
	for _, p := range []string{PyKMIPServer, PyKMIPPython} {
		if _, err := os.Stat(p); err != nil {
			Missing(t, fmt.Sprintf("%s not installed (apt-get install python3-pykmip; bash .ci/run installs it)", p))
		}
	}
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(FreePort(t, "127.0.0.1")))
	MustLoopback(t, addr)
	k, err := estate.StartPyKMIP(context.Background(), dir, addr)
	if err != nil {
		t.Fatalf("testlab: %v", err)
	}
	t.Cleanup(func() {
		k.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "server.log")); err == nil {
				t.Logf("pykmip server.log:\n%s", tail(b, 4000))
			}
		}
	})
	return &PyKMIP{Addr: k.Addr, Dir: dir, CAFile: k.CAFile, ClientCert: k.ClientCert, ClientKey: k.ClientKey, PID: k.Pid()}
}
