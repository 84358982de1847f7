package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func tlsServer(t *testing.T, addr, cn string) (*estate.Server, string) {
	t.Helper()
	root, err := estate.NewRoot("cli test root", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := root.Issue(estate.Leaf{CN: cn, Key: estate.ECDSA256})
	if err != nil {
		t.Fatal(err)
	}
	s, err := estate.ServeTLS(addr, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, root.Cert.Subject.String()
}

// lines decodes a JSON-lines output as T, one value a line.
func lines[T any](t *testing.T, s string) []T {
	t.Helper()
	var out []T
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		out = append(out, v)
	}
	return out
}

func jsonLines(t *testing.T, s string) []scanner.Observation {
	t.Helper()
	return lines[scanner.Observation](t, s)
}

func TestScanJSONLNoStore(t *testing.T) {
	s, _ := tlsServer(t, "127.0.10.1:0", "cli.example.test")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	r := runCLI(t, context.Background(), "", "scan", "--no-store", "--format", "jsonl", "--timeout", "2s", s.Addr, "127.0.10.2:1")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	obs := jsonLines(t, r.stdout)
	if len(obs) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(obs), r.stdout)
	}
	for _, o := range obs {
		switch o.Target {
		case s.Addr:
			if o.Error != nil || len(o.Chain) != 1 || o.Chain[0].Subject != "CN=cli.example.test" || len(o.Chain[0].SPKISHA256) != 64 {
				t.Errorf("served endpoint: %+v", o)
			}
		case "127.0.10.2:1":
			if o.Error == nil || o.Error.Kind != scanner.KindRefused || o.Chain == nil {
				t.Errorf("closed endpoint: %+v", o)
			}
		default:
			t.Errorf("unexpected target %s", o.Target)
		}
	}
	// The raw line carries "chain":[] and "error":null, as documented.
	if !strings.Contains(r.stdout, `"chain":[]`) || !strings.Contains(r.stdout, `"error":null`) {
		t.Errorf("output does not follow the contract:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("XDG_STATE_HOME"), "keyaudit")); !os.IsNotExist(err) {
		t.Errorf("--no-store touched the store directory: %v", err)
	}
}

func TestScanUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"scan", "--no-store"},
		{"scan", "--no-store", "--ports", "0", "127.0.0.1"},
		{"scan", "--no-store", "--bogus-flag", "127.0.0.1"},
		{"scan", "--no-store", "http://example.test"},
		{"scan", "--no-store", "--shard", "3/2", "127.0.0.1"},
		{"scan", "--no-store", "--format", "xml", "127.0.0.1"},
		{"scan", "--no-store", "--scope", "nonsense", "127.0.0.1"},
		{"--config", "/nonexistent/keyaudit.yaml", "scan", "127.0.0.1"},
	} {
		r := runCLI(t, context.Background(), "", args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, r.code, r.stderr)
		}
		if lines := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; r.stderr == "" || lines > 2 {
			t.Errorf("%v: want one clear line on stderr, got %q", args, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%v: stdout %q", args, r.stdout)
		}
	}
}

func openStore(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestScanRecordsRunFromConfigAndStdin(t *testing.T) {
	s, _ := tlsServer(t, "127.0.10.3:0", "cfg.example.test")
	dir := t.TempDir()
	db := filepath.Join(dir, "k.db")
	cfg := filepath.Join(dir, "keyaudit.yaml")
	os.WriteFile(cfg, []byte("store: "+db+"\nscan:\n  timeout: 2s\n  ports: [1, 2]\n  format: csv\n  targets:\n    - "+s.Addr+"\n"), 0o644)
	r := runCLI(t, context.Background(), "# comment\n127.0.10.4\nnot a target!\n", "--config", cfg, "scan", "-")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "stdin line 3") {
		t.Errorf("bad stdin line not reported: %q", r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "TARGET,IP,PROTOCOL") || strings.Count(r.stdout, "\n") != 4 {
		t.Errorf("csv output:\n%s", r.stdout)
	}
	st := openStore(t, db)
	run, err := store.Latest(context.Background(), st, "scan")
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != store.StatusPartial || run.Ended.IsZero() || !strings.Contains(run.Note, "1 invalid target") {
		t.Errorf("run = %+v, want partial (one invalid line)", run)
	}
	n, _ := st.Count(context.Background(), run.ID, store.KindObservation)
	if n != 3 { // the server, and 127.0.10.4 on ports 1 and 2
		t.Errorf("stored %d observations, want 3", n)
	}
	var ders int
	st.Items(context.Background(), run.ID, store.KindCertificate, func(it store.Item) error {
		der, err := records.DecodeCertificateDER(it)
		if err != nil || certinfo.Hex256(der) != it.Key || !bytes.Equal(der, it.DER) {
			t.Errorf("certificate item %s: %v", it.Key, err)
		}
		ders++
		return nil
	})
	if ders != 1 {
		t.Errorf("stored %d certificates, want 1", ders)
	}
}

func TestScanInterruptedKeepsWhatItSaw(t *testing.T) {
	fast, _ := tlsServer(t, "127.0.10.5:0", "fast.example.test")
	tarpit, err := estate.ServeHostile("127.0.10.6:0", estate.Tarpit)
	if err != nil {
		t.Fatal(err)
	}
	defer tarpit.Close()
	db := filepath.Join(t.TempDir(), "k.db")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	start := time.Now()
	r := runCLI(t, ctx, "", "--store", db, "scan", "--timeout", "30s", "--format", "jsonl", fast.Addr, tarpit.Addr)
	if time.Since(start) > 10*time.Second {
		t.Errorf("interrupt took %v", time.Since(start))
	}
	if r.code != 2 {
		t.Errorf("exit %d, want 2 for an interrupted scan", r.code)
	}
	st := openStore(t, db)
	run, err := store.Latest(context.Background(), st, "scan")
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != store.StatusInterrupted {
		t.Errorf("status %s, want interrupted", run.Status)
	}
	var targets []string
	st.Items(context.Background(), run.ID, store.KindObservation, func(it store.Item) error {
		var o scanner.Observation
		json.Unmarshal(it.Data, &o)
		targets = append(targets, o.Target)
		return nil
	})
	found := false
	for _, tg := range targets {
		found = found || tg == fast.Addr
	}
	if !found {
		t.Errorf("stored %v; the endpoint scanned before the interrupt is missing", targets)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	if r := runCLI(t, context.Background(), "", "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "keyaudit ") {
		t.Errorf("version: %+v", r)
	}
	if r := runCLI(t, context.Background(), "", "completion", "bash"); r.code != 0 || !strings.Contains(r.stdout, "keyaudit") {
		t.Errorf("completion: exit %d", r.code)
	}
	if r := runCLI(t, context.Background(), "", "scan", "--help"); r.code != 0 || !strings.Contains(r.stdout, "--scope") {
		t.Errorf("scan --help: exit %d", r.code)
	}
}

// A target line over the cap is reported and skipped, and the rest of
// stdin and of --targets-file is still scanned; the run is partial.
func TestScanOverlongTargetLineSkipped(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(file, []byte(strings.Repeat("f", 100_000)+"\r\n127.0.10.13:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "k.db")
	stdin := "# targets\n" + strings.Repeat("a", scanner.MaxLineLen+1) + "\n127.0.10.12:1\n"
	r := runCLI(t, context.Background(), stdin, "--store", db, "scan", "--format", "jsonl", "--timeout", "2s", "--targets-file", file, "-")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var targets []string
	for _, o := range jsonLines(t, r.stdout) {
		targets = append(targets, o.Target)
	}
	if strings.Join(targets, " ") != "127.0.10.12:1 127.0.10.13:1" && strings.Join(targets, " ") != "127.0.10.13:1 127.0.10.12:1" {
		t.Errorf("scanned %v, want the targets after the long lines", targets)
	}
	for _, want := range []string{"keyaudit: stdin line 2: invalid target \"aaaa", "keyaudit: " + file + " line 1: invalid target \"ffff"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%.500s", want, r.stderr)
		}
	}
	if n := strings.Count(r.stderr, "line longer than 4096 bytes (skipped)\n"); n != 2 {
		t.Errorf("%d long lines reported:\n%.500s", n, r.stderr)
	}
	run, err := store.Latest(context.Background(), openStore(t, db), "scan")
	if err != nil || run.Status != store.StatusPartial || !strings.Contains(run.Note, "2 invalid target") {
		t.Errorf("run %+v, %v: want partial, two invalid lines", run, err)
	}

	r = runCLI(t, context.Background(), "", "scan", "--no-store", "--targets-file", filepath.Join(dir, "missing.txt"))
	if r.code != 2 || !strings.HasPrefix(r.stderr, "keyaudit: --targets-file: open ") {
		t.Errorf("missing --targets-file: exit %d, stderr %q", r.code, r.stderr)
	}
}
