package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/postgres"
)

// shardFarm serves TLS on some of 127.31.0.0/27 × two ports (a distinct
// key each) and leaves the rest closed; it returns the scan target and
// the ports.
func shardFarm(t *testing.T) (cidr, ports string, tlsEndpoints int) {
	t.Helper()
	root, err := estate.NewRoot("shard test root", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	p1 := testlab.FreePort(t, "127.31.0.1")
	p2 := testlab.FreePort(t, "127.31.0.2")
	for p2 == p1 {
		p2 = testlab.FreePort(t, "127.31.0.2")
	}
	for i := 1; i < 32; i++ {
		for j, port := range []int{p1, p2} {
			if (i+j)%3 != 0 { // two thirds closed
				continue
			}
			cert, err := root.Issue(estate.Leaf{CN: fmt.Sprintf("s%d-%d.shard.test", i, j), Key: estate.ECDSA256})
			if err != nil {
				t.Fatal(err)
			}
			s, err := estate.ServeTLS(fmt.Sprintf("127.31.0.%d:%d", i, port), &tls.Config{Certificates: []tls.Certificate{cert}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			tlsEndpoints++
		}
	}
	return "127.31.0.0/27", fmt.Sprintf("%d,%d", p1, p2), tlsEndpoints
}

// groupSets reads the union of a run group: observation keys and the
// leaf SPKIs seen.
func groupSets(t *testing.T, st store.Store, group string) (keys, spkis map[string]bool) {
	t.Helper()
	keys, spkis = map[string]bool{}, map[string]bool{}
	err := store.GroupItems(context.Background(), st, "scan", group, store.KindObservation, []store.RunStatus{store.StatusComplete},
		func(_ store.Run, it store.Item) error {
			if keys[it.Key] {
				t.Errorf("group %s: %s recorded twice", group, it.Key)
			}
			keys[it.Key] = true
			var o scanner.Observation
			if err := json.Unmarshal(it.Data, &o); err != nil {
				return err
			}
			if l := o.Leaf(); l != nil {
				spkis[l.SPKISHA256] = true
				if it.SPKISHA256 != l.SPKISHA256 {
					t.Errorf("%s: item spki %q, leaf %q", it.Key, it.SPKISHA256, l.SPKISHA256)
				}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return keys, spkis
}

// Two shards of one scan, run at once into one PostgreSQL store under one
// run group, hold exactly what an unsharded scan of the same targets
// holds: same endpoints, same keys, nothing twice.
func TestShardsUnionEqualsUnshardedOnPostgres(t *testing.T) {
	dsn := testlab.PostgresDB(t, testlab.Postgres(t), "shards")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	cidr, ports, nTLS := shardFarm(t)
	ctx := context.Background()
	scan := func(extra ...string) result {
		args := append([]string{"--store", dsn, "scan", "--timeout", "5s", "--ports", ports, "--format", "jsonl"}, extra...)
		return runCLI(t, ctx, "", append(args, cidr)...)
	}

	full := scan("--run-group", "full")
	if full.code != 0 {
		t.Fatalf("unsharded scan: exit %d: %s", full.code, full.stderr)
	}
	shards := make([]result, 2)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shards[i] = scan("--shard", fmt.Sprintf("%d/2", i+1), "--run-group", "nightly")
		}()
	}
	wg.Wait()
	for i, r := range shards {
		if r.code != 0 {
			t.Fatalf("shard %d/2: exit %d: %s", i+1, r.code, r.stderr)
		}
	}

	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wantKeys, wantSPKIs := groupSets(t, st, "full")
	gotKeys, gotSPKIs := groupSets(t, st, "nightly")
	if len(wantKeys) != 32*2 || len(wantSPKIs) != nTLS {
		t.Fatalf("unsharded scan: %d endpoints, %d keys; want %d, %d", len(wantKeys), len(wantSPKIs), 32*2, nTLS)
	}
	if !maps.Equal(gotKeys, wantKeys) {
		t.Errorf("union of shards differs from the unsharded scan:\nshards: %v\nfull:   %v", sorted(gotKeys), sorted(wantKeys))
	}
	if !maps.Equal(gotSPKIs, wantSPKIs) {
		t.Errorf("leaf keys of the shards (%d) differ from the unsharded scan (%d)", len(gotSPKIs), len(wantSPKIs))
	}
	// Each shard did part of the work, and stdout carried its part.
	for i, r := range shards {
		n := len(jsonLines(t, r.stdout))
		if n == 0 || n == len(wantKeys) {
			t.Errorf("shard %d/2 printed %d observations of %d: not a real split", i+1, n, len(wantKeys))
		}
	}

	// keyaudit reconcile + report read the estate view: after the shards
	// it holds the same endpoints and keys as after an unsharded run of
	// the same targets.
	sharded := reportSets(t, dsn)
	if unsharded := scan("--run-group", "full-2"); unsharded.code != 0 {
		t.Fatalf("second unsharded scan: exit %d: %s", unsharded.code, unsharded.stderr)
	}
	single := reportSets(t, dsn)
	if !maps.Equal(sharded.targets, single.targets) || !maps.Equal(sharded.spkis, single.spkis) || len(sharded.targets) != len(wantKeys) {
		t.Errorf("report of the shards: %d endpoints, %d keys; report of the unsharded scan: %d, %d",
			len(sharded.targets), len(sharded.spkis), len(single.targets), len(single.spkis))
	}

	// keyaudit runs lists the shards of the group with their counts.
	r := runCLI(t, ctx, "", "--store", dsn, "runs", "--group", "nightly", "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("runs: exit %d: %s", r.code, r.stderr)
	}
	var total int64
	var shardsSeen []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var row struct {
			Kind   string           `json:"kind"`
			Group  string           `json:"group"`
			Status string           `json:"status"`
			Meta   map[string]any   `json:"meta"`
			Counts map[string]int64 `json:"counts"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("runs line %q: %v", line, err)
		}
		if row.Kind != "scan" || row.Group != "nightly" || row.Status != "complete" {
			t.Errorf("runs row %+v", row)
		}
		total += row.Counts[store.KindObservation]
		shardsSeen = append(shardsSeen, fmt.Sprint(row.Meta["shard"]))
	}
	slices.Sort(shardsSeen)
	if fmt.Sprint(shardsSeen) != "[1/2 2/2]" || total != int64(len(wantKeys)) {
		t.Errorf("runs: shards %v with %d observations; want [1/2 2/2] with %d\n%s", shardsSeen, total, len(wantKeys), r.stdout)
	}
}

type reportView struct {
	targets, spkis map[string]bool
}

// reportSets runs keyaudit reconcile and keyaudit report --format json and
// returns the endpoints and leaf keys of the report.
func reportSets(t *testing.T, dsn string) reportView {
	t.Helper()
	ctx := context.Background()
	if r := runCLI(t, ctx, "", "--store", dsn, "reconcile", "--format", "jsonl", "--fail-on", "none"); r.code != 0 {
		t.Fatalf("reconcile: exit %d: %s", r.code, r.stderr)
	}
	r := runCLI(t, ctx, "", "--store", dsn, "report", "--format", "json", "--fail-on", "none")
	if r.code != 0 {
		t.Fatalf("report: exit %d: %s", r.code, r.stderr)
	}
	var rep struct {
		Run struct {
			Stages []struct {
				Name  string `json:"name"`
				RunID int64  `json:"run_id"`
			} `json:"stages"`
		} `json:"run"`
		Observations []scanner.Observation `json:"observations"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report JSON: %v", err)
	}
	v := reportView{targets: map[string]bool{}, spkis: map[string]bool{}}
	for _, o := range rep.Observations {
		if v.targets[o.Target] {
			t.Errorf("report lists %s twice", o.Target)
		}
		v.targets[o.Target] = true
		if l := o.Leaf(); l != nil {
			v.spkis[l.SPKISHA256] = true
		}
	}
	return v
}

func sorted(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

func TestRunsCommand(t *testing.T) {
	s, _ := tlsServer(t, "127.0.10.9:0", "runs.example.test")
	db := t.TempDir() + "/k.db"
	ctx := context.Background()
	for _, g := range []string{"g1", "g1", ""} {
		if r := runCLI(t, ctx, "", "--store", db, "scan", "--format", "jsonl", "--run-group", g, s.Addr); r.code != 0 {
			t.Fatalf("scan: exit %d: %s", r.code, r.stderr)
		}
	}
	r := runCLI(t, ctx, "", "--store", db, "runs")
	if r.code != 0 {
		t.Fatalf("runs: exit %d: %s", r.code, r.stderr)
	}
	if strings.Count(r.stdout, " scan ") != 3 || !strings.Contains(r.stdout, "RECORDS") ||
		strings.Count(r.stdout, "observation=1") != 3 || strings.Count(r.stdout, " g1 ") != 2 {
		t.Fatalf("runs table:\n%s", r.stdout)
	}
	r = runCLI(t, ctx, "", "--store", db, "runs", "--group", "g1", "--format", "csv", "--limit", "1")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 2 || !strings.HasPrefix(r.stdout, "ID,KIND,GROUP,STATUS,STARTED,ENDED,RECORDS,NOTE") {
		t.Fatalf("runs csv: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, ctx, "", "--store", db, "runs", "--format", "json", "--status", "failed")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("runs json (no failed runs): exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, ctx, "", "--store", db, "runs", "--format", "json", "--kind", "scan")
	var rows []reports.RunRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 3 || rows[0].ID <= rows[1].ID {
		t.Fatalf("runs json: %v %+v", err, rows)
	}
	for _, bad := range [][]string{{"runs", "--status", "nope"}, {"runs", "--format", "xml"}, {"--no-store", "runs"}, {"runs", "extra"}} {
		if r := runCLI(t, ctx, "", append([]string{"--store", db}, bad...)...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, r.code)
		}
	}
}

// A PostgreSQL store that cannot be reached is exit 2, and the password
// of its URL, given by flag or by KEYAUDIT_STORE, is never printed.
func TestPostgresStoreUnreachableHidesPassword(t *testing.T) {
	port := strconv.Itoa(testlab.FreePort(t, "127.0.0.1"))
	ctx := context.Background()
	for _, scheme := range []string{"postgres", "postgresql"} {
		url := scheme + "://keyaudit:hunter2-secret@127.0.0.1:" + port + "/keyaudit?sslmode=disable&connect_timeout=2"
		r := runCLI(t, ctx, "", "--store", url, "runs")
		if r.code != 2 || strings.Contains(r.stderr+r.stdout, "hunter2") || !strings.Contains(r.stderr, "127.0.0.1:"+port) {
			t.Errorf("--store %s: exit %d, stderr %q", scheme, r.code, r.stderr)
		}
		t.Setenv("KEYAUDIT_STORE", url)
		r = runCLI(t, ctx, "", "scan", "--timeout", "1s", "127.0.10.10:1")
		if r.code != 2 || strings.Contains(r.stderr+r.stdout, "hunter2") {
			t.Errorf("KEYAUDIT_STORE %s: exit %d, stderr %q", scheme, r.code, r.stderr)
		}
	}
}
