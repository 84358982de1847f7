package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/postgres"
)

// TestWorkerKilledMidJob: a queue worker killed with SIGKILL in the middle
// of a scan job. Its run is marked abandoned (its lease expired), the job
// is rescued and done by the next worker, `worker --until-empty` ends, the
// group completes, and reconcile raises no false finding.
func TestWorkerKilledMidJob(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: PostgreSQL and a killed worker process")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	dsn := testlab.PostgresDB(t, testlab.Postgres(t), "worker_kill")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("KEYAUDIT_RUN_LEASE", "2s")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// 127.35.0.1 serves TLS; 127.35.0.2 accepts and never answers, so a
	// job is still running when its worker is killed.
	port := testlab.FreePort(t, "127.35.0.1")
	root, err := estate.NewRoot("kill test root", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := root.Issue(estate.Leaf{CN: "k.kill.test", Key: estate.ECDSA256})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := estate.ServeTLS(fmt.Sprintf("127.35.0.1:%d", port), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tarpit, err := net.Listen("tcp", fmt.Sprintf("127.35.0.2:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer tarpit.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := tarpit.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	cli := func(args ...string) result {
		t.Helper()
		return runCLI(t, ctx, "", append([]string{"--store", dsn}, args...)...)
	}
	if r := cli("enqueue", "scan", "--shards", "1", "--run-group", "kg", "--ports", fmt.Sprint(port), "--timeout", "8s", "--format", "jsonl",
		"127.35.0.1", "127.35.0.2"); r.code != 0 {
		t.Fatalf("enqueue: exit %d: %s", r.code, r.stderr)
	}

	// The first worker, a process of its own, killed once its run started.
	w := exec.CommandContext(ctx, bin, "--store", dsn, "worker", "--scan-workers", "1", "--ct-workers", "0", "--poll", "100ms", "--scope", "127.35.0.0/29")
	w.Env = append(os.Environ(), "KEYAUDIT_RUN_LEASE=2s")
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var killed store.Run
	for killed.ID == 0 {
		if ctx.Err() != nil {
			t.Fatal("the first worker never began a run")
		}
		runs, _ := st.Runs(ctx, store.RunFilter{Kind: "scan", Group: "kg", Status: []store.RunStatus{store.StatusRunning}})
		if len(runs) > 0 {
			killed = runs[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if err := w.Process.Kill(); err != nil { // SIGKILL, by PID
		t.Fatal(err)
	}
	w.Wait()

	// The next worker rescues the job and ends when the queue is empty.
	start := time.Now()
	if r := cli("worker", "--until-empty", "--scan-workers", "1", "--ct-workers", "0", "--poll", "100ms", "--job-timeout", "20s", "--rescue-after", "20s",
		"--scope", "127.35.0.0/29"); r.code != 0 {
		t.Fatalf("second worker: exit %d: %s", r.code, r.stderr)
	}
	t.Logf("second worker took %s", time.Since(start).Round(time.Second))
	done, err := st.Runs(ctx, store.RunFilter{Kind: "scan", Group: "kg", Status: []store.RunStatus{store.StatusComplete}})
	if err != nil || len(done) != 1 {
		t.Fatalf("complete runs in group kg: %d, %v; want 1 (the rescued job)", len(done), err)
	}
	r := cli("reconcile", "--format", "jsonl", "--fail-on", "none")
	if r.code != 0 {
		t.Fatalf("reconcile: exit %d: %s", r.code, r.stderr)
	}
	for _, f := range findingsOf(t, r.stdout) {
		if f.Check == "incomplete-input" || f.Check == "endpoint-gone" {
			t.Errorf("false %s: %s", f.Check, f.Message)
		}
	}
	// Whoever looks next (here the reconcile) marks the dead run.
	got, err := st.GetRun(ctx, killed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusAbandoned {
		t.Errorf("killed worker's run %d is %s, want abandoned", got.ID, got.Status)
	}
	if !strings.Contains(r.stdout, "k.kill.test") {
		t.Errorf("the rescued job's endpoint is not in the estate:\n%s", r.stdout)
	}
}
