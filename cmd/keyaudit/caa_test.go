package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

const caaTestdata = "../../testdata/caa"

// caaLine is a JSON line of `keyaudit caa`, decoded loosely so missing
// keys are detectable.
type caaLine map[string]any

func startCAAZones(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(caaTestdata, "*.zone"))
	zones := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		zones[strings.TrimSuffix(filepath.Base(f), ".zone")+"."] = string(b)
	}
	if len(zones) == 0 {
		t.Fatal("no zones")
	}
	return testlab.StartKnot(t, "127.0.0.1:0", zones)
}

type caaExpect struct {
	name, ca, allowed, relevant, errKind string
}

func readCAAExpect(t *testing.T) []caaExpect {
	f, err := os.Open(filepath.Join(caaTestdata, "expect.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []caaExpect
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		x := strings.Fields(sc.Text())
		if len(x) == 5 && !strings.HasPrefix(x[0], "#") {
			out = append(out, caaExpect{x[0], x[1], x[2], strings.Trim(x[3], "-"), strings.Trim(x[4], "-")})
		}
	}
	return out
}

func caaLines(t *testing.T, s string) []caaLine {
	t.Helper()
	var out []caaLine
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var l caaLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

// TestCAADoneWhen runs the acceptance command over every case in
// testdata/caa/expect.txt against a real Knot.
func TestCAADoneWhen(t *testing.T) {
	addr := startCAAZones(t)
	exps := readCAAExpect(t)
	var names []string
	for _, e := range exps {
		if !slices.Contains(names, e.name) {
			names = append(names, e.name)
		}
	}
	args := append([]string{"caa", "--format", "jsonl", "--no-store", "--resolver", addr,
		"--ca", "letsencrypt.org", "--ca", "ca.example", "--timeout", "2s"}, names...)
	r := runCLI(t, context.Background(), "", args...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := caaLines(t, r.stdout)
	if len(lines) != 2*len(names) {
		t.Fatalf("%d lines for %d names × 2 CAs", len(lines), len(names))
	}
	got := map[string]caaLine{}
	for i, l := range lines {
		for _, k := range []string{"name", "ca", "allowed", "relevant_name", "records", "iodef", "params", "error"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %d lacks %q: %v", i, k, l)
			}
		}
		// In input order, CAs in flag order.
		if want := names[i/2]; l["name"] != want {
			t.Errorf("line %d is %v, want %s", i, l["name"], want)
		}
		got[l["name"].(string)+" "+l["ca"].(string)] = l
	}
	for _, e := range exps {
		l := got[e.name+" "+e.ca]
		if l == nil {
			t.Errorf("no line for %s %s", e.name, e.ca)
			continue
		}
		kind := ""
		if m, ok := l["error"].(map[string]any); ok {
			kind, _ = m["kind"].(string)
		}
		allowed := "false"
		if l["allowed"] == true {
			allowed = "true"
		}
		if allowed != e.allowed || l["relevant_name"] != e.relevant || kind != e.errKind {
			t.Errorf("%s %s: allowed %s relevant %v error %q; want %s %q %q\n%v", e.name, e.ca, allowed, l["relevant_name"], kind,
				e.allowed, e.relevant, e.errKind, l)
		}
	}
	// Spot checks of content beyond the decision.
	if p := got["acct.caa.test letsencrypt.org"]["params"].([]any); len(p) != 1 ||
		p[0].(map[string]any)["accounturi"].([]any)[0] != "https://acme-v02.api.letsencrypt.org/acme/acct/12345" {
		t.Errorf("acct params: %v", p)
	}
	if io := got["nothing.caa.test letsencrypt.org"]["iodef"].([]any); len(io) != 1 || io[0] != "mailto:security@caa.test" {
		t.Errorf("iodef: %v", io)
	}
	if recs := got["crit1.caa.test letsencrypt.org"]["records"].([]any); len(recs) != 2 {
		t.Errorf("crit1 records: %v", recs)
	}
}

func TestCAAPerNameAndStore(t *testing.T) {
	addr := startCAAZones(t)
	db := filepath.Join(t.TempDir(), "k.db")
	r := runCLI(t, context.Background(), "", "caa", "--store", db, "--format", "jsonl", "--resolver", addr,
		"wild.caa.test", "*.wild.caa.test", "WILD.caa.test.", "nowhere.test", "www.broken.test")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := caaLines(t, r.stdout)
	if len(lines) != 4 { // WILD.caa.test. is wild.caa.test
		t.Fatalf("%d lines:\n%s", len(lines), r.stdout)
	}
	perms := func(l caaLine, k string) any {
		p, _ := l[k].(map[string]any)
		if p == nil {
			return nil
		}
		if p["any"] == true {
			return "any"
		}
		return p["cas"]
	}
	if l := lines[0]; l["name"] != "wild.caa.test" || !slices.Equal(toStrings(perms(l, "permits")), []string{"letsencrypt.org"}) ||
		!slices.Equal(toStrings(perms(l, "permits_wildcard")), []string{"ca.example"}) {
		t.Errorf("wild: %v", l)
	}
	if _, ok := lines[0]["allowed"]; ok {
		t.Errorf("per-name line has allowed: %v", lines[0])
	}
	if l := lines[1]; l["name"] != "*.wild.caa.test" {
		t.Errorf("wildcard name: %v", l)
	}
	if l := lines[2]; perms(l, "permits") != "any" || l["relevant_name"] != "" {
		t.Errorf("nowhere: %v", l)
	}
	if l := lines[3]; l["error"] == nil || l["permits"] != nil {
		t.Errorf("broken: %v", l)
	}

	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run, err := store.Latest(context.Background(), st, "caa")
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != store.StatusPartial || !strings.Contains(run.Note, "1 servfail") {
		t.Errorf("run %+v", run)
	}
	var keys []string
	err = st.Items(context.Background(), run.ID, store.KindCAA, func(it store.Item) error {
		keys = append(keys, it.Key)
		var l caaLine
		if err := json.Unmarshal(it.Data, &l); err != nil || l["name"] != it.Key {
			t.Errorf("item %s: %s", it.Key, it.Data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"wild.caa.test", "*.wild.caa.test", "nowhere.test", "www.broken.test"}) {
		t.Errorf("keys %v", keys)
	}

	// With --ca: one item per (name, CA), run complete.
	r = runCLI(t, context.Background(), "", "caa", "--store", db, "--format", "csv", "--resolver", addr,
		"--ca", "letsencrypt.org", "--ca", "ca.example", "own.caa.test", "n01.caa.test")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(rows) != 5 || rows[0][0] != "NAME" || rows[1][2] != "false" || rows[2][2] != "true" {
		t.Errorf("csv %v %v", rows, err)
	}
	run, err = store.Latest(context.Background(), st, "caa")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := st.Count(context.Background(), run.ID, store.KindCAA); n != 4 || run.Status != store.StatusComplete {
		t.Errorf("run %+v with %d items", run, n)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestCAAFormats(t *testing.T) {
	addr := startCAAZones(t)
	r := runCLI(t, context.Background(), "", "caa", "--no-store", "--resolver", addr, "--ca", "ca.example", "alias.caa.test", "loop1.caa.test")
	if r.code != 0 || !strings.Contains(r.stdout, "alias.caa.test → own.caa.test") || !strings.Contains(r.stdout, "alias:") {
		t.Errorf("table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, context.Background(), "", "caa", "--no-store", "--resolver", addr, "--format", "json", "own.caa.test")
	var arr []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &arr); err != nil || len(arr) != 1 || arr[0]["relevant_name"] != "own.caa.test" {
		t.Errorf("json: %v %s", err, r.stdout)
	}
}

func TestCAAFailuresAreResults(t *testing.T) {
	silent := testlab.SilentDNS(t)
	r := runCLI(t, context.Background(), "", "caa", "--no-store", "--format", "jsonl", "--resolver", silent,
		"--timeout", "200ms", "--attempts", "1", "--ca", "letsencrypt.org", "a.example", "b.example")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, l := range caaLines(t, r.stdout) {
		e, _ := l["error"].(map[string]any)
		if l["allowed"] != false || e == nil || e["kind"] != "timeout" {
			t.Errorf("line %v", l)
		}
	}
}

func TestCAABadInput(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	for _, args := range [][]string{
		{"caa", "--no-store"},
		{"caa", "--no-store", "--resolver", "127.0.0.1", "a..example"},
		{"caa", "--no-store", "--resolver", "127.0.0.1", "192.0.2.1"},
		{"caa", "--no-store", "--resolver", "127.0.0.1", "a.*.example"},
		{"caa", "--no-store", "--resolver", "127.0.0.1", "--ca", "letsencrypt.org.", "example.com"},
		{"caa", "--no-store", "--resolver", "127.0.0.1", "--ca", "le; x=y", "example.com"},
		{"caa", "--no-store", "--resolver", "resolver.example", "example.com"},
		{"caa", "--no-store", "--resolver", "127.0.0.1", "--format", "xml", "example.com"},
		{"caa", "--no-store", "--resolver", "127.0.0.1", "--concurrency", "0", "example.com"},
		{"caa", "--no-store", "--resolver", "127.0.0.1", "--bogus", "example.com"},
	} {
		r := runCLI(t, context.Background(), "", args...)
		if r.code != 2 || r.stdout != "" || r.stderr == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestCAAConfig(t *testing.T) {
	addr := startCAAZones(t)
	cfg := filepath.Join(t.TempDir(), "keyaudit.yaml")
	err := os.WriteFile(cfg, []byte(`no-store: true
watch:
  - own.caa.test
  - "*.wild.caa.test"
caa:
  ca: [ca.example]
  resolver: [`+addr+`]
  format: jsonl
  cas:
    - name: Test CA
      organizations: [Pebble, "Let's Encrypt"]
      identifiers: [ca.example]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, context.Background(), "", "--config", cfg, "caa", "n01.caa.test")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := caaLines(t, r.stdout)
	if len(lines) != 3 || lines[0]["name"] != "own.caa.test" || lines[1]["name"] != "*.wild.caa.test" ||
		lines[1]["allowed"] != true || lines[2]["name"] != "n01.caa.test" || lines[2]["ca"] != "ca.example" {
		t.Errorf("lines:\n%s", r.stdout)
	}
	r = runCLI(t, context.Background(), "", "--config", cfg, "caa", "--list-cas", "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	first := caaLines(t, r.stdout)[0]
	if first["name"] != "Test CA" || first["source"] != "config" || !strings.Contains(r.stdout, "letsencrypt.org") {
		t.Errorf("list-cas:\n%s", r.stdout)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("caa:\n  cas:\n    - name: X\n      organizations: [X]\n      identifiers: [\"not valid.\"]\n"), 0o644)
	if r := runCLI(t, context.Background(), "", "--config", bad, "caa", "--no-store", "x.example"); r.code != 2 {
		t.Errorf("bad caa.cas: exit %d %s", r.code, r.stderr)
	}
}

// TestCAABadInputMessages: each bad input gets its one message.
func TestCAABadInputMessages(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("caa:\n  cas:\n    - name: X\n      organizations: [X]\n      identifiers: [\"not valid.\"]\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"caa", "--no-store"}, "no names: give NAME arguments or a watch: list in the config"},
		{[]string{"caa", "--no-store", "--ca", "le; x=y", "example.com"}, `--ca "le; x=y": not an issuer-domain-name (such as letsencrypt.org)`},
		{[]string{"caa", "--no-store", "--attempts", "0", "example.com"}, "--concurrency, --attempts and --timeout must be positive"},
		{[]string{"caa", "--no-store", "a.*.example"}, `caa: invalid name "a.*.example": a wildcard must be the whole leftmost label`},
		{[]string{"--config", bad, "caa", "--no-store", "x.example"}, `config caa.cas: caa: CA "X": identifier "not valid." is not an issuer-domain-name`},
		{[]string{"--config", bad, "caa", "--list-cas"}, `config caa.cas: caa: CA "X": identifier "not valid." is not an issuer-domain-name`},
		{[]string{"--config", bad, "--no-store", "reconcile"}, `config caa.cas: caa: CA "X": identifier "not valid." is not an issuer-domain-name`},
	} {
		r := runCLI(t, context.Background(), "", tt.args...)
		if r.code != 2 || r.stdout != "" || r.stderr != "keyaudit: "+tt.want+"\n" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %q", tt.args, r.code, r.stdout, r.stderr, tt.want)
		}
	}
}

func TestCAAListCAsCSV(t *testing.T) {
	r := runCLI(t, context.Background(), "", "caa", "--list-cas", "--format", "csv")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "CA,ISSUER ORGANISATIONS,CAA IDENTIFIERS,SOURCE\n") || !strings.Contains(r.stdout, ",builtin\n") {
		t.Errorf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, context.Background(), "", "caa", "--list-cas", "--format", "xml"); r.code != 2 || r.stdout != "" {
		t.Errorf("--format xml: exit %d %q", r.code, r.stdout)
	}
}
