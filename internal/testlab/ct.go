package testlab

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/sunlight"
	ct "github.com/google/certificate-transparency-go"
	"github.com/google/certificate-transparency-go/client"
	"github.com/google/certificate-transparency-go/jsonclient"
	cttls "github.com/google/certificate-transparency-go/tls"
)

// ToolsBin is where .ci/ct.sh (and the other .ci scripts) put the Go
// tools the tests start: ${KEYAUDIT_TOOLS:-$HOME/.cache/keyaudit-tools}/bin.
func ToolsBin() string {
	d := os.Getenv("KEYAUDIT_TOOLS")
	if d == "" {
		home, _ := os.UserHomeDir()
		d = filepath.Join(home, ".cache", "keyaudit-tools")
	}
	return filepath.Join(d, "bin")
}

// CTLog is a real CT log started for a test.
type CTLog struct {
	// SubmitURL is the RFC 6962 submission prefix (add-chain at
	// SubmitURL+"ct/v1/add-chain").
	SubmitURL string
	// MonitorURL is what a monitor reads: the RFC 6962 base URL, or the
	// static-ct-api monitoring prefix.
	MonitorURL string
	// PublicKeyDER is the log's SubjectPublicKeyInfo.
	PublicKeyDER []byte
	// Origin is the checkpoint origin (static logs).
	Origin string
	// Dir holds the log's files (TesseraCT's storage directory).
	Dir string

	lc *client.LogClient
}

func newLogKey(t testing.TB, dir string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "log-key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return key, p
}

// TesseraCT starts TesseraCT (static-ct-api, POSIX storage) accepting
// certificates chaining to rootsPEM, and serves its storage directory as
// the monitoring prefix with http.FileServer. Binary "posix" from
// .ci/ct.sh.
func TesseraCT(t testing.TB, rootsPEM []byte) *CTLog {
	t.Helper()
	bin := Need(t, "posix", ToolsBin())
	dir := t.TempDir()
	key, keyPath := newLogKey(t, dir)
	roots := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(roots, rootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(dir, "ct")
	port := FreePort(t, "127.0.0.1")
	origin := "localhost/test"
	StartProcess(t, dir, bin,
		"--private_key="+keyPath, "--origin="+origin, "--path_prefix=/test",
		"--storage_dir="+storage, "--roots_pem_file="+roots,
		"--http_endpoint="+net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		"--checkpoint_interval=500ms", "--batch_max_age=100ms",
		"--checkpoint_republish_interval=1s")
	WaitTCP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 20*time.Second)

	fs := httptest.NewServer(http.FileServer(http.Dir(storage)))
	t.Cleanup(fs.Close)
	MustLoopback(t, fs.Listener.Addr().String())
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	l := &CTLog{
		SubmitURL:    fmt.Sprintf("http://localhost:%d/test/", port),
		MonitorURL:   fs.URL + "/",
		PublicKeyDER: pub, Origin: origin, Dir: storage,
	}
	l.lc = newSubmitClient(t, l.SubmitURL, 127)
	// Ready when the first checkpoint is on disk.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(storage, "checkpoint")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("testlab: TesseraCT wrote no checkpoint in 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return l
}

// CTFE starts Trillian v1.7.2 (log server and signer) on a fresh
// PostgreSQL database and CTFE (ct_server, RFC 6962) in front of it,
// accepting certificates chaining to rootsPEM. Binaries from .ci/ct.sh.
func CTFE(t testing.TB, rootsPEM []byte) *CTLog {
	t.Helper()
	bins := ToolsBin()
	logServer := Need(t, "trillian_log_server", bins)
	logSigner := Need(t, "trillian_log_signer", bins)
	createTree := Need(t, "createtree", bins)
	ctServer := Need(t, "ct_server", bins)
	schema := trillianSchema(t)

	pg := Postgres(t)
	db := PostgresDB(t, pg, "trillian")
	Psql(t, db, "-f "+schema)
	u := strings.TrimPrefix(db, "postgres://postgres@")
	hostPort, _, _ := strings.Cut(u, "/")
	host, pgPort, _ := net.SplitHostPort(hostPort)
	uri := fmt.Sprintf("postgresql:///trillian?host=%s&port=%s&user=postgres&sslmode=disable", host, pgPort)

	dir := t.TempDir()
	rpc := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t, "127.0.0.1")))
	storage := []string{"--storage_system=postgresql", "--quota_system=noop", "--postgresql_uri=" + uri}
	StartProcess(t, dir, logServer, append(storage,
		"--rpc_endpoint="+rpc,
		"--http_endpoint="+net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t, "127.0.0.1"))))...)
	signerDir := filepath.Join(dir, "signer")
	os.Mkdir(signerDir, 0o755)
	StartProcess(t, signerDir, logSigner, append(storage,
		"--force_master", "--sequencer_interval=100ms", "--batch_size=1000",
		"--rpc_endpoint="+net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t, "127.0.0.1"))),
		"--http_endpoint="+net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t, "127.0.0.1"))))...)
	WaitTCP(t, rpc, 20*time.Second)

	var treeID string
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command(createTree, "--admin_server="+rpc).CombinedOutput()
		if m := regexp.MustCompile(`(?m)^(\d+)\s*$`).FindSubmatch(out); err == nil && m != nil {
			treeID = string(m[1])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testlab: createtree: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	roots := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(roots, rootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`config {
  log_id: %s
  prefix: "test"
  roots_pem_file: %q
  public_key { der: "%s" }
  private_key {
    [type.googleapis.com/keyspb.PrivateKey] { der: "%s" }
  }
  max_merge_delay_sec: 86400
  expected_merge_delay_sec: 120
}
`, treeID, roots, protoBytes(pub), protoBytes(priv))
	cfgPath := filepath.Join(dir, "ct.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t, "127.0.0.1")))
	ctDir := filepath.Join(dir, "ctfe")
	os.Mkdir(ctDir, 0o755)
	StartProcess(t, ctDir, ctServer, "--log_config="+cfgPath, "--log_rpc_server="+rpc,
		"--http_endpoint="+httpAddr, "--get_sth_interval=1s",
		"--quota_remote=false", "--quota_intermediate=false")
	WaitTCP(t, httpAddr, 20*time.Second)
	base := "http://" + httpAddr + "/test/"
	l := &CTLog{SubmitURL: base, MonitorURL: base, PublicKeyDER: pub, Dir: dir}
	l.lc = newSubmitClient(t, base, 0)
	// Ready when get-sth answers (the signer has signed the empty tree).
	deadline = time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := l.lc.GetSTH(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testlab: CTFE get-sth not answering: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return l
}

// trillianSchema finds Trillian's PostgreSQL schema: copied next to the
// tools by .ci/ct.sh, or in the module cache.
func trillianSchema(t testing.TB) string {
	t.Helper()
	p := filepath.Join(filepath.Dir(ToolsBin()), "trillian-postgresql.sql")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err == nil {
		p = filepath.Join(strings.TrimSpace(string(out)), "github.com/google/trillian@v1.7.2/storage/postgresql/schema/storage.sql")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	Missing(t, "Trillian PostgreSQL schema not found (bash .ci/ct.sh fetches it)")
	return ""
}

// protoBytes escapes b for a text proto bytes literal.
func protoBytes(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "\\%03o", c)
	}
	return sb.String()
}

func newSubmitClient(t testing.TB, base string, _ int) *client.LogClient {
	t.Helper()
	hc := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			// "localhost" must reach the IPv4 listener.
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if host == "localhost" {
				host = "127.0.0.1"
			}
			if !IsLoopback(host) {
				return nil, fmt.Errorf("testlab: refusing non-loopback %s", addr)
			}
			return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(host, port))
		}},
	}
	lc, err := client.New(base, hc, jsonclient.Options{UserAgent: "keyaudit-testlab"})
	if err != nil {
		t.Fatal(err)
	}
	return lc
}

// Submit sends chain (leaf first) to add-chain, or to add-pre-chain when
// precert, and returns the SCT and its TLS encoding.
func (l *CTLog) Submit(t testing.TB, precert bool, chain ...[]byte) (*ct.SignedCertificateTimestamp, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var c []ct.ASN1Cert
	for _, d := range chain {
		c = append(c, ct.ASN1Cert{Data: d})
	}
	var sct *ct.SignedCertificateTimestamp
	var err error
	if precert {
		sct, err = l.lc.AddPreChain(ctx, c)
	} else {
		sct, err = l.lc.AddChain(ctx, c)
	}
	if err != nil {
		t.Fatalf("testlab: submit to %s: %v", l.SubmitURL, err)
	}
	enc, err := cttls.Marshal(*sct)
	if err != nil {
		t.Fatal(err)
	}
	return sct, enc
}

// TreeSize returns the log's current signed tree size (not verified: for
// waiting, not for trusting).
func (l *CTLog) TreeSize(t testing.TB) uint64 {
	t.Helper()
	if l.Origin != "" {
		b, err := os.ReadFile(filepath.Join(l.Dir, "checkpoint"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		if len(lines) < 2 {
			t.Fatalf("testlab: checkpoint: %q", b)
		}
		n, err := strconv.ParseUint(lines[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sth, err := l.lc.GetSTH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return sth.TreeSize
}

// WaitTreeSize waits until the signed tree holds at least n entries.
func (l *CTLog) WaitTreeSize(t testing.TB, n uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := l.TreeSize(t)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testlab: log tree size %d, want %d after %v", got, n, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// IndexOf returns the index the log gave the entry of an SCT (TLS
// encoding) for chain: from the SCT's leaf_index extension on static
// logs, from get-proof-by-hash (waiting for integration) on RFC 6962 logs.
func (l *CTLog) IndexOf(t testing.TB, sctBytes []byte, precert bool, chain ...[]byte) uint64 {
	t.Helper()
	var sct ct.SignedCertificateTimestamp
	if _, err := cttls.Unmarshal(sctBytes, &sct); err != nil {
		t.Fatal(err)
	}
	if l.Origin != "" {
		ext, err := sunlight.ParseExtensions(sct.Extensions)
		if err != nil {
			t.Fatalf("testlab: SCT extensions: %v", err)
		}
		return uint64(ext.LeafIndex)
	}
	var c []ct.ASN1Cert
	for _, d := range chain {
		c = append(c, ct.ASN1Cert{Data: d})
	}
	et := ct.X509LogEntryType
	if precert {
		et = ct.PrecertLogEntryType
	}
	leaf, err := ct.MerkleTreeLeafFromRawChain(c, et, sct.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	leaf.TimestampedEntry.Extensions = sct.Extensions
	h, err := ct.LeafHashForLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		size := uint64(0)
		sth, err := l.lc.GetSTH(ctx)
		if err == nil {
			size = sth.TreeSize
		}
		if size > 0 {
			resp, err := l.lc.GetProofByHash(ctx, h[:], size)
			if err == nil {
				cancel()
				return uint64(resp.LeafIndex)
			}
		}
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("testlab: entry not integrated in 60s (tree size %d)", size)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
