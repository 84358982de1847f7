package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/queue"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/postgres"
)

func enqueuedLines(t *testing.T, s string) []queue.Enqueued {
	t.Helper()
	return lines[queue.Enqueued](t, s)
}

// keyaudit enqueue + keyaudit worker on PostgreSQL: a scan split into
// shard jobs lands as one run group; CT-sync jobs are one per log and
// share their position with keyaudit ct sync.
func TestQueueCLI(t *testing.T) {
	dsn := testlab.PostgresDB(t, testlab.Postgres(t), "queue_cli")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	ctx := context.Background()
	cli := func(args ...string) result {
		t.Helper()
		return runCLI(t, ctx, "", append([]string{"--store", dsn}, args...)...)
	}

	// A small estate on 127.33.0.0/28: every third address serves TLS.
	root, err := estate.NewRoot("queue cli root", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	port := testlab.FreePort(t, "127.33.0.1")
	for i := 0; i < 16; i += 3 {
		cert, err := root.Issue(estate.Leaf{CN: fmt.Sprintf("w%d.queue.test", i), Key: estate.ECDSA256})
		if err != nil {
			t.Fatal(err)
		}
		s, err := estate.ServeTLS(fmt.Sprintf("127.33.0.%d:%d", i, port), &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	scanArgs := []string{"enqueue", "scan", "--shards", "3", "--run-group", "qg", "--ports", fmt.Sprint(port), "--timeout", "5s", "--format", "jsonl", "127.33.0.0/28"}
	r := cli(scanArgs...)
	if r.code != 0 {
		t.Fatalf("enqueue scan: exit %d: %s", r.code, r.stderr)
	}
	jobs := enqueuedLines(t, r.stdout)
	if len(jobs) != 3 || jobs[0].Shard != "1/3" || jobs[2].Shard != "3/3" || jobs[1].Group != "qg" || jobs[0].Duplicate {
		t.Fatalf("enqueued %+v", jobs)
	}
	if r := cli(scanArgs...); r.code != 0 || strings.Count(r.stdout, `"duplicate":true`) != 3 {
		t.Fatalf("enqueue of the same shards while queued: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The config's scan: section configures queued scans too.
	cfg := t.TempDir() + "/keyaudit.yaml"
	os.WriteFile(cfg, []byte(fmt.Sprintf("scan:\n  ports: [%d]\n  timeout: 5s\n  shard: 1/2\n  targets: [127.33.0.0/28]\n", port)), 0o644)
	if r := cli("--config", cfg, "enqueue", "scan", "--run-group", "from-config", "--format", "jsonl"); r.code != 0 || len(enqueuedLines(t, r.stdout)) != 1 {
		t.Fatalf("enqueue scan from config: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// CT: one job per log; a second enqueue while queued is a duplicate.
	f, _, want := ctFake(t, 60)
	ctArgs := []string{"enqueue", "ct-sync", "--log", f.URL, "--log-key", f.PublicKeyBase64(), "--log-type", "static",
		"--watch", "example.com", "--from", "start", "--format", "jsonl"}
	r = cli(ctArgs...)
	if r.code != 0 || len(enqueuedLines(t, r.stdout)) != 1 || strings.Contains(r.stdout, `"duplicate":true`) {
		t.Fatalf("enqueue ct-sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(ctArgs...); r.code != 0 || !strings.Contains(r.stdout, `"duplicate":true`) {
		t.Fatalf("second enqueue ct-sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	if r := cli("worker", "--until-empty", "--scan-workers", "2", "--ct-workers", "2", "--poll", "100ms", "--scope", "127.0.0.0/8"); r.code != 0 {
		t.Fatalf("worker: exit %d: %s", r.code, r.stderr)
	}

	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := store.GroupCount(ctx, st, "scan", "qg", store.KindObservation, store.StatusComplete)
	if err != nil || n != 16 {
		t.Fatalf("group qg holds %d observations, %v; want 16", n, err)
	}
	if runs, _ := store.GroupRuns(ctx, st, "scan", "qg", store.StatusComplete); len(runs) != 3 {
		t.Fatalf("%d complete runs in group qg, want 3", len(runs))
	}
	chains := 0
	if err := store.GroupItems(ctx, st, "scan", "from-config", store.KindObservation, nil, func(_ store.Run, it store.Item) error {
		if it.SPKISHA256 != "" {
			chains++
		}
		return nil
	}); err != nil || chains != 6 {
		t.Fatalf("scan queued from the config found %d chains, %v; want 6 (ports from scan:)", chains, err)
	}
	if certs, _ := store.GroupCount(ctx, st, "scan", "qg", store.KindCertificate); certs == 0 {
		t.Error("scan jobs stored no certificate DER (keyaudit scan does)")
	}
	if got := indices(storedSightings(t, st)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queued ct-sync stored sightings %v, want %v", got, want)
	}

	// keyaudit ct sync continues from the position the worker stored:
	// nothing new to print, nothing recorded twice.
	r = cli("ct", "sync", "--log", f.URL, "--log-key", f.PublicKeyBase64(), "--log-type", "static",
		"--watch", "example.com", "--from", "start", "--format", "jsonl")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("ct sync after the queue: exit %d, printed %q: %s", r.code, r.stdout, r.stderr)
	}

	// keyaudit runs shows the shards with their counts.
	r = cli("runs", "--group", "qg", "--format", "csv")
	if r.code != 0 || strings.Count(r.stdout, ",scan,qg,complete,") != 3 {
		t.Fatalf("runs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// The queue needs PostgreSQL; bad jobs are refused before anything is
// queued.
func TestQueueCLIErrors(t *testing.T) {
	ctx := context.Background()
	db := t.TempDir() + "/k.db"
	for _, args := range [][]string{
		{"--store", db, "enqueue", "scan", "127.0.0.1"},
		{"--store", db, "worker"},
		{"--no-store", "worker"},
		{"--store", "postgres://u@127.0.0.1:1/x", "enqueue", "scan"},
		{"--store", "postgres://u@127.0.0.1:1/x", "enqueue", "scan", "--shards", "0", "127.0.0.1"},
		{"--store", "postgres://u@127.0.0.1:1/x", "enqueue", "scan", "not a target!"},
		{"--store", "postgres://u@127.0.0.1:1/x", "enqueue", "ct-sync", "--watch", "example.com"},
		{"--store", "postgres://u@127.0.0.1:1/x", "worker", "--scan-workers", "0", "--ct-workers", "0"},
		{"--store", "postgres://u@127.0.0.1:1/x", "worker", "--scope", "nope"},
	} {
		r := runCLI(t, ctx, "", args...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a reason", args, r.code, r.stderr)
		}
	}
	r := runCLI(t, ctx, "", "--store", db, "worker")
	if !strings.Contains(r.stderr, "PostgreSQL") {
		t.Errorf("worker on SQLite: %q", r.stderr)
	}
	// Unlike scan, which skips a bad line of targets, enqueue refuses it.
	r = runCLI(t, ctx, "127.0.0.1\nbad target!\n", "--store", "postgres://u@127.0.0.1:1/x", "enqueue", "scan", "-")
	if r.code != 2 || !strings.Contains(r.stderr, "stdin line 2") || !strings.Contains(r.stderr, "nothing queued") {
		t.Errorf("enqueue scan with a bad stdin line: exit %d, stderr %q", r.code, r.stderr)
	}
}
