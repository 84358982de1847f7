package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// ctFake builds a FAKE log with n entries: every 9th names a watched
// domain, every 13th is a precertificate followed by its certificate.
// It returns the indices that must be sighted.
func ctFake(t *testing.T, n int) (*testlab.FakeLog, *testlab.CTCA, []uint64) {
	t.Helper()
	ca := testlab.NewCTCA(t)
	f := testlab.NewFakeLog(t)
	var want []uint64
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("h%d.other.test", i)
		watched := i%9 == 0
		if watched {
			name = fmt.Sprintf("h%d.example.com", i)
		}
		if i%13 == 0 {
			p := ca.Precert(t, name)
			idx := f.Add(t, p.Precert, true, ca.Root.Raw)
			f.Add(t, p.Final(t), false, ca.Root.Raw)
			if watched {
				want = append(want, uint64(idx))
			}
			continue
		}
		idx := f.Add(t, ca.Cert(t, name), false, ca.Root.Raw)
		if watched {
			want = append(want, uint64(idx))
		}
	}
	f.Publish(t)
	return f, ca, want
}

func ctArgs(f *testlab.FakeLog, typ string, extra ...string) []string {
	return append([]string{"ct", "sync", "--log", f.URL, "--log-key", f.PublicKeyBase64(), "--log-type", typ,
		"--watch", "example.com", "--from", "start"}, extra...)
}

func sightingLines(t *testing.T, s string) []ctlog.Sighting {
	t.Helper()
	return lines[ctlog.Sighting](t, s)
}

func indices(ss []ctlog.Sighting) []uint64 {
	out := make([]uint64, len(ss))
	for i, s := range ss {
		out[i] = s.Index
	}
	return out
}

// storedSightings returns every sighting of every ct run in the store,
// in commit order.
func storedSightings(t *testing.T, st store.Store) []ctlog.Sighting {
	t.Helper()
	ctx := context.Background()
	runs, err := st.Runs(ctx, store.RunFilter{Kind: "ct"})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(runs)
	var out []ctlog.Sighting
	for _, r := range runs {
		err := st.Items(ctx, r.ID, store.KindSighting, func(it store.Item) error {
			var s ctlog.Sighting
			if err := json.Unmarshal(it.Data, &s); err != nil {
				return err
			}
			if it.Key != s.ItemKey() || it.SPKISHA256 != s.SPKISHA256 || it.CertSHA256 != s.CertSHA256 {
				return fmt.Errorf("item columns do not match the sighting: %+v", it)
			}
			_, der, err := records.ItemDER(it)
			if err != nil {
				return err
			}
			s.DER = der
			out = append(out, s)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestCTSyncJSONL(t *testing.T) {
	f, ca, want := ctFake(t, 400)
	for _, typ := range []string{"static", "rfc6962"} {
		t.Run(typ, func(t *testing.T) {
			r := runCLI(t, context.Background(), "", ctArgs(f, typ, "--no-store", "--format", "jsonl")...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			got := sightingLines(t, r.stdout)
			if !slices.Equal(indices(got), want) {
				t.Fatalf("sighted %v\nwant %v", indices(got), want)
			}
			for _, s := range got {
				if s.Log != f.URL || s.Timestamp.IsZero() || s.CertSHA256 == "" || s.SPKISHA256 == "" ||
					s.Issuer != ca.Root.Subject.String() || len(s.Names) == 0 {
					t.Fatalf("incomplete sighting %+v", s)
				}
			}
		})
	}
	// Other formats carry the same records.
	for _, format := range []string{"json", "csv", "table"} {
		r := runCLI(t, context.Background(), "", ctArgs(f, "static", "--no-store", "--format", format)...)
		if r.code != 0 || !strings.Contains(r.stdout, "h0.example.com") || strings.Contains(r.stdout, "other.test") {
			t.Fatalf("--format %s: exit %d\n%s\n%s", format, r.code, r.stdout, r.stderr)
		}
	}
}

func TestCTSyncStoreResumeAndMisbehaviour(t *testing.T) {
	f, ca, want := ctFake(t, 300)
	db := filepath.Join(t.TempDir(), "ka.db")
	args := ctArgs(f, "static", "--store", db, "--format", "jsonl", "--commit-every", "64")
	if r := runCLI(t, context.Background(), "", args...); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// New entries: only they are read and printed.
	idx := f.Add(t, ca.Cert(t, "new.example.com"), false, ca.Root.Raw)
	f.Add(t, ca.Cert(t, "new.other.test"), false, ca.Root.Raw)
	f.Publish(t)
	r := runCLI(t, context.Background(), "", args...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := indices(sightingLines(t, r.stdout)); !slices.Equal(got, []uint64{uint64(idx)}) {
		t.Fatalf("second sync printed %v", got)
	}
	st := openStore(t, db)
	if got := indices(storedSightings(t, st)); !slices.Equal(got, append(slices.Clone(want), uint64(idx))) {
		t.Fatalf("stored %v", got)
	}
	// Each x509 sighting's certificate is stored with it, for validity
	// checks and revocation plans; no certificate item of its own.
	certs := 0
	runs, _ := st.Runs(context.Background(), store.RunFilter{Kind: "ct"})
	for _, run := range runs {
		st.Items(context.Background(), run.ID, store.KindSighting, func(it store.Item) error {
			sha, der, err := records.ItemDER(it)
			if err != nil || der == nil || certinfo.Hex256(der) != sha || sha != it.CertSHA256 {
				t.Errorf("sighting %s: stored certificate does not hash to its cert_sha256 %s (%v)", it.Key, sha, err)
			}
			certs++
			return nil
		})
		if n, _ := st.Count(context.Background(), run.ID, store.KindCertificate); n != 0 {
			t.Errorf("run %d: %d certificate items beside the sightings", run.ID, n)
		}
	}
	if certs == 0 {
		t.Error("no sighting stored")
	}
	l, _ := ctlog.NewLog(f.URL, f.PublicKeyBase64(), ctlog.Static)
	cursor, err := st.Cursor(context.Background(), "ct:"+l.ID)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	// The log lies: exit 1, the log's status records the misbehaviour
	// with both heads, and the position stays.
	f.Add(t, ca.Cert(t, "more.example.com"), false, ca.Root.Raw)
	f.Publish(t)
	f.LieReplaceEntry(t, f.Size()-1, ca.Cert(t, "swapped.example.com"), ca.Root.Raw)
	r = runCLI(t, context.Background(), "", args...)
	if r.code != 1 || !strings.Contains(r.stderr, "CRITICAL log misbehaviour") || r.stdout != "" {
		t.Fatalf("lying log: exit %d\nstdout %q\nstderr %s", r.code, r.stdout, r.stderr)
	}
	st = openStore(t, db)
	defer st.Close()
	after, err := st.Cursor(context.Background(), "ct:"+l.ID)
	if err != nil || !bytes.Equal(after, cursor) {
		t.Fatalf("position moved past a lying log: %v", err)
	}
	run, err := store.Latest(context.Background(), st, "ct")
	if err != nil {
		t.Fatal(err)
	}
	var statuses []records.LogStatus
	if err := records.Decode(context.Background(), st, run.ID, store.KindLogStatus, &statuses); err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 1 || statuses[0].Log != f.URL || statuses[0].Status != records.LogMisbehaviour ||
		statuses[0].Detail["trusted_head"] == nil || statuses[0].Detail["served_head"] == nil || run.Status != store.StatusPartial {
		t.Fatalf("log statuses %+v, run %+v", statuses, run)
	}
	if n, _ := st.Count(context.Background(), run.ID, store.KindFinding); n != 0 {
		t.Fatalf("%d findings recorded by the sync, want none (reconcile makes them)", n)
	}
	// --fail-on none: recorded but exit 0.
	if r := runCLI(t, context.Background(), "", append(args, "--fail-on", "none")...); r.code != 0 {
		t.Fatalf("--fail-on none: exit %d", r.code)
	}
}

func TestCTConfigSection(t *testing.T) {
	f, _, want := ctFake(t, 100)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "log.key")
	os.WriteFile(keyFile, []byte(f.PublicKeyBase64()), 0o644)
	cfg := fmt.Sprintf(`watch: [example.com]
ct:
  logs:
    - url: %s
      key: %s
      type: rfc6962
      description: fake log
ct-sync:
  from: start
  format: jsonl
`, f.URL, keyFile)
	cfgPath := filepath.Join(dir, "ka.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	r := runCLI(t, context.Background(), "", "--config", cfgPath, "--no-store", "ct", "sync")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := indices(sightingLines(t, r.stdout)); !slices.Equal(got, want) {
		t.Fatalf("sighted %v, want %v", got, want)
	}
}

func TestCTLogList(t *testing.T) {
	f, _, want := ctFake(t, 60)
	l, _ := ctlog.NewLog(f.URL, f.PublicKeyBase64(), ctlog.Static)
	list := fmt.Sprintf(`{"version":"1","log_list_timestamp":"2026-01-01T00:00:00Z","operators":[{"name":"Fake","email":["x@example.org"],
 "logs":[],
 "tiled_logs":[{"description":"fake tiled","log_id":%q,"key":%q,"submission_url":%q,"monitoring_url":%q,"mmd":60,"state":{"usable":{"timestamp":"2025-01-01T00:00:00Z"}}},
               {"description":"retired","log_id":%q,"key":%q,"submission_url":"https://r.example/","monitoring_url":"http://127.0.0.1:1/","mmd":60,"state":{"retired":{"timestamp":"2025-01-01T00:00:00Z"}}}]}]}`,
		l.ID, f.PublicKeyBase64(), "https://"+f.Origin+"/", f.URL, l.ID, f.PublicKeyBase64())
	p := filepath.Join(t.TempDir(), "list.json")
	os.WriteFile(p, []byte(list), 0o644)
	r := runCLI(t, context.Background(), "", "--no-store", "ct", "sync", "--log-list", p, "--watch", "example.com", "--from", "start", "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := indices(sightingLines(t, r.stdout)); !slices.Equal(got, want) {
		t.Fatalf("sighted %v, want %v", got, want)
	}
}

func TestCTBadInputExit2(t *testing.T) {
	f, _, _ := ctFake(t, 1)
	cases := [][]string{
		{"ct", "sync", "--watch", "example.com"},
		{"ct", "sync", "--log", f.URL, "--watch", "example.com"},
		{"ct", "sync", "--log", f.URL, "--log-key", "bm90IGEga2V5", "--watch", "example.com"},
		{"ct", "sync", "--log", f.URL, "--log-key", f.PublicKeyBase64()},
		{"ct", "sync", "--log", f.URL, "--log-key", f.PublicKeyBase64(), "--watch", "example.com", "--from", "middle"},
		{"ct", "sync", "--log", f.URL, "--log-key", f.PublicKeyBase64(), "--log-type", "carrier-pigeon", "--watch", "example.com"},
		{"ct", "sync", "--log", f.URL, "--log-key", f.PublicKeyBase64(), "--watch", "example.com", "--format", "xml"},
		{"ct", "sync", "--log-list", "/nonexistent.json", "--watch", "example.com"},
	}
	for _, args := range cases {
		r := runCLI(t, context.Background(), "", append([]string{"--no-store"}, args...)...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// syncBuffer is a bytes.Buffer safe to read while the CLI writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCTWatchFollows(t *testing.T) {
	f, ca, want := ctFake(t, 50)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--no-store", "ct", "watch", "--log", f.URL, "--log-key", f.PublicKeyBase64(),
			"--log-type", "static", "--watch", "example.com", "--from", "start", "--poll", "100ms"}, strings.NewReader(""), &out, &errb)
	}()
	waitLines := func(n int) []ctlog.Sighting {
		deadline := time.Now().Add(20 * time.Second)
		for {
			got := sightingLines(t, out.String())
			if len(got) >= n {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("watch printed %d sightings, want %d; stderr %s", len(got), n, errb.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLines(len(want))
	idx := f.Add(t, ca.Cert(t, "late.example.com"), false, ca.Root.Raw)
	f.Publish(t)
	got := waitLines(len(want) + 1)
	if got[len(got)-1].Index != uint64(idx) {
		t.Fatalf("last sighting %d, want %d", got[len(got)-1].Index, idx)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("watch exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop on cancel")
	}
}

// buildKeyaudit builds the binary once per test run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "keyaudit-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "keyaudit")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// TestCTKill9Resume kills `keyaudit ct sync` with SIGKILL at random
// moments, reruns it, and checks that the store ends with every sighting
// exactly once: no gap, no duplicate.
func TestCTKill9Resume(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: builds and kills the keyaudit binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	// broad: every entry names the watched domain (a suffix or brand
	// watch), so every commit carries a full batch of sightings.
	for _, c := range []struct {
		typ   string
		broad bool
	}{{"static", false}, {"rfc6962", false}, {"static", true}} {
		typ := c.typ
		name := typ
		if c.broad {
			name += "-broad"
		}
		t.Run(name, func(t *testing.T) {
			ca := testlab.NewCTCA(t)
			f := testlab.NewFakeLog(t)
			// Unwatched entries repeat a small pool of certificates (the
			// leaves still differ); watched ones are unique.
			var pool [][]byte
			for i := 0; i < 16; i++ {
				pool = append(pool, ca.Cert(t, fmt.Sprintf("pool%d.other.test", i)))
			}
			n, every := 12000, 37
			if c.broad {
				n, every = 5000, 1
			}
			var want []uint64
			watched := map[int][]byte{}
			for i := 0; i < n; i += every {
				watched[i] = ca.Cert(t, fmt.Sprintf("w%d.example.com", i))
				want = append(want, uint64(i))
			}
			f.AddMany(t, n, func(i int) ([]byte, bool, []byte) {
				if der, ok := watched[i]; ok {
					return der, false, ca.Root.Raw
				}
				return pool[i%len(pool)], false, ca.Root.Raw
			})
			f.Publish(t)
			if c.broad {
				f.Delay(60 * time.Millisecond) // ≈20 tiles: slow enough to be killed between commits
			} else {
				f.Delay(3 * time.Millisecond)
			}

			db := filepath.Join(t.TempDir(), "ka.db")
			args := ctArgs(f, typ, "--store", db, "--format", "jsonl", "--commit-every", "256", "--batch-size", "64", "--parallel", "2")
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
			kills, finished := 0, false
			for attempt := 0; attempt < 12; attempt++ {
				cmd := exec.Command(bin, args...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				waited := make(chan error, 1)
				go func() { waited <- cmd.Wait() }()
				select {
				case err := <-waited:
					if err != nil {
						t.Fatalf("sync failed: %v\n%s", err, stderr.String())
					}
				case <-time.After(time.Duration(300+rng.IntN(700)) * time.Millisecond):
					// kill -9 mid-sync: no deferred cleanup, no graceful close.
					if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					<-waited
					kills++
					continue
				}
				finished = true
				break
			}
			if kills == 0 {
				t.Fatal("the sync finished before any kill: make the log slower")
			}
			if !finished {
				// Every attempt was killed (a loaded machine, -race): the
				// next run, left alone, must finish what they left.
				cmd := exec.Command(bin, args...)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("sync after %d kills failed: %v\n%s", kills, err, out)
				}
			}
			st := openStore(t, db)
			defer st.Close()
			got := storedSightings(t, st)
			if !slices.Equal(indices(got), want) {
				t.Fatalf("after %d kills: %d sightings stored, want %d (duplicates or gaps)\n got %v\nwant %v",
					kills, len(got), len(want), indices(got), want)
			}
			// Each sighting keeps its certificate, whichever run stored it.
			for _, s := range got {
				if !bytes.Equal(s.DER, watched[int(s.Index)]) {
					t.Fatalf("sighting %d: stored DER is not the logged certificate", s.Index)
				}
			}
			runs, _ := st.Runs(context.Background(), store.RunFilter{Kind: "ct"})
			t.Logf("%d kills, %d runs, %d sightings", kills, len(runs), len(got))
		})
	}
}

// TestCTSyncMaxEntries: a bounded sync stops after --max-entries and the
// next one continues from there.
func TestCTSyncMaxEntries(t *testing.T) {
	f, _, want := ctFake(t, 300)
	db := filepath.Join(t.TempDir(), "ka.db")
	var got []uint64
	for i := 0; i < 4; i++ {
		r := runCLI(t, context.Background(), "", ctArgs(f, "rfc6962", "--store", db, "--format", "jsonl", "--max-entries", "100")...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		part := indices(sightingLines(t, r.stdout))
		for _, x := range part {
			if x < uint64(i*100) || x >= uint64((i+1)*100) {
				t.Fatalf("run %d printed entry %d", i, x)
			}
		}
		got = append(got, part...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("bounded syncs sighted %v, want %v", got, want)
	}
}

// TestCTParamsFromConfig: keyaudit audit runs the CT sync stage from the
// config alone, without argv; nothing is contacted to build it.
func TestCTParamsFromConfig(t *testing.T) {
	f := testlab.NewFakeLog(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`watch: [example.com]
ct:
  logs:
    - url: %s
      key: %s
      type: static
ct-sync:
  from: start
  max-entries: 100
  run-group: nightly
  watch: [example.org]
`, f.URL, f.PublicKeyBase64())))
	if err != nil {
		t.Fatal(err)
	}
	a := &app{stdout: io.Discard, stderr: io.Discard, configPath: "ka.yaml", config: cfg, log: slog.New(slog.DiscardHandler)}
	o, cc, watch, err := a.ctOptionsFromConfig()
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.ctParams(o, cc, watch)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Logs) != 1 || p.Logs[0].URL != f.URL || p.From.String() != "start" || p.Config.MaxEntries != 100 || p.Group != "nightly" ||
		!slices.Equal(p.Config.Watch.Entries(), []string{"example.com", "example.org"}) {
		t.Fatalf("params %+v (watch %v)", p, p.Config.Watch.Entries())
	}
	a.config, _ = config.Parse([]byte("ct:\n  logs: []\nwatch: [example.com]\n"))
	if o, cc, watch, err = a.ctOptionsFromConfig(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ctParams(o, cc, watch); err == nil {
		t.Error("a config without logs was accepted")
	}
}

// TestCTSightingColumns: the table and CSV columns of ct sync and ct
// watch.
func TestCTSightingColumns(t *testing.T) {
	s := ctlog.Sighting{Log: "https://ct.example/", Index: 42, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Precert: true, Names: []string{"a.example.com", "b.example.com"}, Issuer: "CN=Test CA",
		CertSHA256: "c0ffee", SPKISHA256: "5bee"}
	var b bytes.Buffer
	out, err := reports.NewStream(&b, "csv", reports.SightingColumns)
	if err == nil {
		err = out.Write(s)
	}
	if err == nil {
		err = out.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	want := "LOG,INDEX,TIMESTAMP,PRECERT,NAMES,ISSUER,CERT SHA256,SPKI SHA256\n" +
		"https://ct.example/,42,2026-01-02T03:04:05Z,true,a.example.com b.example.com,CN=Test CA,c0ffee,5bee\n"
	if b.String() != want {
		t.Fatalf("csv\n%s\nwant\n%s", b.String(), want)
	}
}

// TestCTNotALogOrWrongOriginExit2 (hardening 17, e): a URL that serves
// no CT log (an HTML page) given as a static log, and a log whose
// checkpoints name another origin than --log-origin, could not be synced:
// exit 2, not the critical exit 1 of a log that misbehaved.
func TestCTNotALogOrWrongOriginExit2(t *testing.T) {
	f, _, _ := ctFake(t, 3)
	page := startHTML(t)
	cases := [][]string{
		{"ct", "sync", "--log", page, "--log-key", f.PublicKeyBase64(), "--log-type", "static", "--watch", "example.com", "--from", "start"},
		ctArgs(f, "static", "--log-origin", "another.example/log"),
	}
	for _, args := range cases {
		r := runCLI(t, context.Background(), "", append([]string{"--no-store"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "could not be synced") || strings.Contains(r.stderr, "misbehaviour") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if r := runCLI(t, context.Background(), "", append([]string{"--no-store"}, ctArgs(f, "static", "--log-origin", f.Origin)...)...); r.code != 0 {
		t.Errorf("matching --log-origin: exit %d, stderr %q", r.code, r.stderr)
	}
}

// startHTML serves a web page that is not a CT log on loopback and
// returns its URL.
func startHTML(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testlab.MustLoopback(t, ln.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!doctype html><title>Welcome</title><p>It works!\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// TestCTTwoProcessesOneStore: two `ct sync` processes of one log on one
// store at once (two cron entries that overlap, or a watch beside a
// sync) both finish; the store then holds a sighting of every entry with
// its certificate — each entry possibly in both runs, which the estate
// reads as one (latest per entry) — and a third sync finds nothing left.
func TestCTTwoProcessesOneStore(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the keyaudit binary twice at once")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	ca := testlab.NewCTCA(t)
	f := testlab.NewFakeLog(t)
	const n = 3000
	certs := make([][]byte, n)
	for i := range certs {
		certs[i] = ca.Cert(t, fmt.Sprintf("w%d.example.com", i))
	}
	f.AddMany(t, n, func(i int) ([]byte, bool, []byte) { return certs[i], false, ca.Root.Raw })
	f.Publish(t)
	f.Delay(40 * time.Millisecond) // ≥ 240 ms a sync: the two overlap
	db := filepath.Join(t.TempDir(), "ka.db")
	args := ctArgs(f, "static", "--store", db, "--format", "jsonl", "--commit-every", "256", "--parallel", "2")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	outs := make([][]byte, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = exec.Command(bin, args...).CombinedOutput()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("sync %d: %v\n%s", i, err, outs[i])
		}
		// Each started from the empty store, so each saw part of the log
		// before the other's commits: both stored sightings.
		if !bytes.Contains(outs[i], []byte(`"index":`)) {
			t.Fatalf("sync %d sighted nothing: the two did not overlap\n%s", i, outs[i])
		}
	}
	r := runCLI(t, context.Background(), "", args...)
	if r.code != 0 || len(sightingLines(t, r.stdout)) != 0 {
		t.Fatalf("third sync: exit %d, %d new sightings\n%s", r.code, len(sightingLines(t, r.stdout)), r.stderr)
	}
	st := openStore(t, db)
	defer st.Close()
	latest := map[uint64]ctlog.Sighting{}
	for _, s := range storedSightings(t, st) {
		latest[s.Index] = s
	}
	if len(latest) != n {
		t.Fatalf("%d entries sighted, want %d", len(latest), n)
	}
	for i, s := range latest {
		if !bytes.Equal(s.DER, certs[i]) {
			t.Fatalf("entry %d: stored DER is not the logged certificate", i)
		}
	}
}
