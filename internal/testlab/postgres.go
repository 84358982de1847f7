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
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PostgresBin is where Debian's PostgreSQL 15 server binaries live.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Postgres starts a real PostgreSQL 15 server for the test — its own data
// directory in a temp dir, 127.0.0.1 on a free port, trust auth for user
// postgres, TLS available (sslmode=require works), fsync off — and stops
// it at cleanup. It returns a DSN for the "postgres" database:
//
//	postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
//
// Use PostgresDB for a fresh database per test. initdb refuses to run as
// root, so when the tests run as root the server runs as the "postgres"
// system user (su). ≈2 s to start.
func Postgres(t testing.TB) (dsn string) {
	t.Helper()
	initdb := filepath.Join(PostgresBin, "initdb")
	if _, err := os.Stat(initdb); err != nil {
		Missing(t, "PostgreSQL 15 not installed ("+initdb+"; bash .ci/run installs it)")
	}
	dir, err := os.MkdirTemp("", "keyaudit-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	asUser := ""
	var uid, gid int
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			Missing(t, "running as root and there is no postgres user to run PostgreSQL as")
		}
		asUser = "postgres"
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if asUser != "" {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func(timeout time.Duration, name string, args ...string) {
		t.Helper()
		var cmd *exec.Cmd
		if asUser != "" {
			q := make([]string, 0, len(args)+1)
			for _, a := range append([]string{name}, args...) {
				q = append(q, shellQuote(a))
			}
			cmd = exec.Command("su", asUser, "-s", "/bin/sh", "-c", strings.Join(q, " "))
		} else {
			cmd = exec.Command(name, args...)
		}
		cmd.Dir = dir
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(timeout):
			if cmd.Process != nil {
				cmd.Process.Kill()
			}
			<-done
			err = fmt.Errorf("timed out after %v", timeout)
		}
		if err != nil {
			t.Fatalf("testlab: postgres: %s: %v\n%s", filepath.Base(name), err, out)
		}
	}
	run(60*time.Second, initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C")

	// TLS, so clients can test sslmode=require; the key must belong to the
	// server's user and not be readable by others.
	certPEM, keyPEM := selfSigned(t, "127.0.0.1")
	for name, b := range map[string][]byte{"server.crt": certPEM, "server.key": keyPEM} {
		p := filepath.Join(data, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if asUser != "" {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	port := FreePort(t, "127.0.0.1")
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 64MB
log_min_messages = warning
`, port, sock)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pgctl := filepath.Join(PostgresBin, "pg_ctl")
	logFile := filepath.Join(dir, "postgres.log")
	if asUser != "" {
		lf, err := os.Create(logFile)
		if err != nil {
			t.Fatal(err)
		}
		lf.Close()
		os.Chown(logFile, uid, gid)
	}
	run(60*time.Second, pgctl, "-D", data, "-l", logFile, "-w", "-t", "50", "start")
	t.Cleanup(func() {
		// Stop by the data directory's pid file: only this server.
		stop := exec.Command(pgctl, "-D", data, "-m", "immediate", "-w", "stop")
		if asUser != "" {
			stop = exec.Command("su", asUser, "-s", "/bin/sh", "-c",
				strings.Join([]string{shellQuote(pgctl), "-D", shellQuote(data), "-m", "immediate", "-w", "stop"}, " "))
		}
		if out, err := stop.CombinedOutput(); err != nil {
			t.Logf("testlab: postgres stop: %v\n%s", err, out)
		}
		if t.Failed() {
			if b, err := os.ReadFile(logFile); err == nil {
				t.Logf("postgres log:\n%s", tail(b, 4000))
			}
		}
	})
	WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

// PostgresDB creates database name on the server of dsn (a Postgres DSN)
// and returns a DSN for it.
func PostgresDB(t testing.TB, dsn, name string) string {
	t.Helper()
	if !isIdent(name) {
		t.Fatalf("testlab: postgres: bad database name %q", name)
	}
	Psql(t, dsn, "CREATE DATABASE "+name)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Psql runs SQL (a statement, or "-f FILE") against dsn with psql and
// returns its output.
func Psql(t testing.TB, dsn string, sql string) string {
	t.Helper()
	psql := Need(t, "psql", PostgresBin)
	args := []string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", dsn}
	if f, ok := strings.CutPrefix(sql, "-f "); ok {
		args = append(args, "-f", f)
	} else {
		args = append(args, "-c", sql)
	}
	out, err := exec.Command(psql, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("testlab: psql %q: %v\n%s", sql, err, out)
	}
	return string(out)
}

func isIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// selfSigned returns a throwaway ECDSA certificate and key (PEM) for host.
func selfSigned(t testing.TB, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}
