package queue

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/stage"
)

func specs(t *testing.T, targets ...string) func(func(scanner.Spec) bool) {
	t.Helper()
	var ss []scanner.Spec
	for _, s := range targets {
		sp, err := scanner.ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, sp)
	}
	return slices.Values(ss)
}

// ScanJobs splits one scan into shard jobs of one group, carrying the
// scanner settings and the targets as written.
func TestEnqueueScanJobsSplit(t *testing.T) {
	scope, _ := scanner.ParseScope([]string{"198.51.100.5/24", "192.0.2.7"})
	cfg := scanner.Config{
		Ports: []int{443, 8443}, Protocol: "smtp", Resolvers: []string{"198.51.100.53:53"}, Timeout: 3 * time.Second,
		DNSTimeout: time.Second, Concurrency: 7, Rate: 2.5, PerIP: 3, Scope: scope,
	}
	p := stage.ScanParams{Config: cfg, Targets: specs(t, "203.0.113.0/24", "imap://mail.example.com", "192.0.2.7, www.example.com"), Group: "nightly"}
	jobs, err := ScanJobs(p, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 {
		t.Fatalf("%d jobs, want 3", len(jobs))
	}
	for i, j := range jobs {
		if want := []string{"1/3", "2/3", "3/3"}[i]; j.Shard != want || j.Group != "nightly" {
			t.Errorf("job %d: shard %q group %q, want %q nightly", i, j.Shard, j.Group, want)
		}
		if !slices.Equal(j.Targets, []string{"203.0.113.0/24", "imap://mail.example.com", "192.0.2.7, www.example.com"}) {
			t.Errorf("job %d targets %q", i, j.Targets)
		}
		if !slices.Equal(j.Scope, []string{"198.51.100.0/24", "192.0.2.7/32"}) {
			t.Errorf("job %d scope %q", i, j.Scope)
		}
		got, err := j.scannerConfig()
		if err != nil {
			t.Fatal(err)
		}
		got.Shard = scanner.Shard{}
		if !reflect.DeepEqual(got, cfg) {
			t.Errorf("job %d scanner config\n%+v, want\n%+v", i, got, cfg)
		}
	}

	one, err := ScanJobs(stage.ScanParams{Config: cfg, Targets: specs(t, "203.0.113.1")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one[0].Shard != "" || !strings.HasPrefix(one[0].Group, "scan-") {
		t.Fatalf("one job: %+v; want unsharded, group scan-<time>", one)
	}
}

// What ScanJobs refuses: nothing of it is to be queued.
func TestEnqueueScanJobsRefused(t *testing.T) {
	ok := func() stage.ScanParams { return stage.ScanParams{Targets: specs(t, "127.0.0.1"), Group: "g"} }
	cases := map[string]struct {
		p      stage.ScanParams
		shards int
	}{
		"no shards":       {ok(), 0},
		"too many shards": {ok(), MaxShards + 1},
		"no targets":      {stage.ScanParams{Targets: specs(t), Group: "g"}, 2},
		"bad lines":       {stage.ScanParams{Targets: specs(t, "127.0.0.1"), BadLines: func() int { return 1 }}, 1},
		"sharded config":  {stage.ScanParams{Config: scanner.Config{Shard: scanner.Shard{Index: 1, Count: 2}}, Targets: specs(t, "127.0.0.1")}, 2},
		"bad protocol":    {stage.ScanParams{Config: scanner.Config{Protocol: "gopher"}, Targets: specs(t, "127.0.0.1")}, 1},
	}
	for name, c := range cases {
		if jobs, err := ScanJobs(c.p, c.shards); err == nil {
			t.Errorf("%s: accepted: %+v", name, jobs)
		}
	}
}

// Every scanner setting is either carried by a scan job or knowingly
// left out: a new one must be decided on here, not dropped silently.
func TestEnqueueScanJobsCarryEveryScannerSetting(t *testing.T) {
	carried := []string{"Ports", "Protocol", "Resolvers", "Timeout", "DNSTimeout", "Concurrency", "Rate", "PerIP", "Scope", "Shard"}
	leftOut := []string{"Resolver", "Dial", "Logger", "Now", "Queued"} // the worker's, not the job's (Queued: a progress display)
	var fields []string
	for f := range reflect.TypeFor[scanner.Config]().Fields() {
		fields = append(fields, f.Name)
	}
	want := append(slices.Clone(carried), leftOut...)
	slices.Sort(fields)
	slices.Sort(want)
	if !slices.Equal(fields, want) {
		t.Fatalf("scanner.Config fields %v; ScanJobs knows %v", fields, want)
	}
}

// fakeLog is a log of testlab's (on loopback; never contacted here).
func fakeLog(t *testing.T) ctlog.Log {
	t.Helper()
	f := testlab.NewFakeLog(t)
	l, err := ctlog.NewLog(f.URL, f.PublicKeyBase64(), ctlog.Static)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// CTSyncJobs makes one job per log, each with the template's settings.
func TestEnqueueCTSyncJobsPerLog(t *testing.T) {
	logs := []ctlog.Log{fakeLog(t), fakeLog(t)}
	tmpl := CTSyncArgs{From: "start", MaxEntries: 10, BatchSize: 32, Parallel: 2, CommitEvery: 64, Rate: 5, FetchIssuers: true, Group: "ct-g"}
	jobs, err := CTSyncJobs(logs, []string{"example.com"}, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want 2", len(jobs))
	}
	for i, j := range jobs {
		if j.LogID != logs[i].ID || j.Log.URL != logs[i].URL || !slices.Equal(j.Watch, []string{"example.com"}) {
			t.Errorf("job %d: %+v", i, j)
		}
		j.LogID, j.Log, j.Watch = "", CTLog{}, nil
		if !reflect.DeepEqual(j, tmpl) {
			t.Errorf("job %d settings %+v, want %+v", i, j, tmpl)
		}
	}
	if _, err := CTSyncJobs(logs, []string{"example.com"}, CTSyncArgs{From: "middle"}); err == nil {
		t.Error("bad --from accepted")
	}
	if _, err := CTSyncJobs(logs, []string{"bad domain!"}, tmpl); err == nil || !strings.Contains(err.Error(), logs[0].URL) {
		t.Errorf("bad watch: %v; want an error naming the log", err)
	}
}

func TestEnqueuedColumns(t *testing.T) {
	var b bytes.Buffer
	out, err := reports.NewStream(&b, reports.FormatCSV, EnqueuedColumns)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteEnqueued(out, []Enqueued{
		{JobID: 7, Kind: KindScan, Group: "g", Shard: "1/2"},
		{JobID: 8, Kind: KindCTSync, Log: "https://ct.example/a/", Duplicate: true},
	}); err != nil {
		t.Fatal(err)
	}
	want := "JOB,KIND,GROUP,SHARD,LOG,STATUS\n7,keyaudit.scan,g,1/2,,queued\n8,keyaudit.ct_sync,,,https://ct.example/a/,duplicate (already queued or running)\n"
	if b.String() != want {
		t.Fatalf("csv:\n%s\nwant:\n%s", b.String(), want)
	}
}
