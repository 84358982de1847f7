package ctlog

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
)

// newKey returns a fresh public key, base64 DER.
func newKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func logNames(logs []Log) []string {
	var out []string
	for _, l := range logs {
		out = append(out, string(l.Type)+" "+l.URL+" "+l.Description)
	}
	return out
}

func TestLogsConfigLogs(t *testing.T) {
	k1, k2, k3 := newKey(t), newKey(t), newKey(t)
	ll, err := ReadLogList(testdata + "/log_list.json")
	if err != nil {
		t.Fatal(err)
	}
	listed := ll.Operators[0].Logs[0] // usable, RFC 6962

	// The command line's logs come first, then the configured ones, then
	// the list's; a log named twice (same key) is kept once, as first
	// named.
	c := LogsConfig{
		URLs:  []string{"https://a.example/", "https://b.example/"},
		Keys:  []string{k1, k2},
		Types: []string{"static", "rfc6962"},
		Configured: []LogConfig{
			{URL: "https://c.example/", Key: k3, Type: "static", Description: "C", Origin: "c.example/origin"},
			{URL: "https://a-again.example/", Key: k1},
			{URL: "https://listed.example/", Key: base64.StdEncoding.EncodeToString(listed.Key), Description: "configured first"},
		},
		LogList: testdata + "/log_list.json",
		States:  []string{StateUsable},
	}
	logs, err := c.Logs()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"static https://a.example/ ",
		"rfc6962 https://b.example/ ",
		"static https://c.example/ C",
		"rfc6962 https://listed.example/ configured first",
		"static https://tiles.example.net/2026h1/ Example Tiles 'Usable2026h1'",
	}
	if got := logNames(logs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("logs\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if logs[2].Origin != "c.example/origin" {
		t.Errorf("configured origin %q", logs[2].Origin)
	}
	for _, l := range logs {
		if err := l.Validate(); err != nil {
			t.Error(err)
		}
	}

	// One type applies to every URL; none means rfc6962.
	for types, want := range map[string]Type{"": RFC6962, "static": Static} {
		c := LogsConfig{URLs: []string{"https://a.example/", "https://b.example/"}, Keys: []string{k1, k2}}
		if types != "" {
			c.Types = []string{types}
		}
		logs, err := c.Logs()
		if err != nil || len(logs) != 2 || logs[0].Type != want || logs[1].Type != want {
			t.Errorf("types %q: %v, %v", types, logNames(logs), err)
		}
	}

	// Without states the list's default states are followed.
	logs, err = LogsConfig{LogList: testdata + "/log_list.json"}.Logs()
	if err != nil || len(logs) != 4 {
		t.Errorf("default states: %v, %v", logNames(logs), err)
	}
}

func TestLogsConfigInvalid(t *testing.T) {
	k := newKey(t)
	cases := []struct {
		c    LogsConfig
		want string
	}{
		{LogsConfig{}, "no CT logs: give --log with --log-key, --log-list, or a ct: section in the config"},
		{LogsConfig{URLs: []string{"https://a.example/"}}, "1 --log but 0 --log-key: give one key per log"},
		{LogsConfig{URLs: []string{"https://a.example/"}, Keys: []string{k, k}}, "1 --log but 2 --log-key"},
		{LogsConfig{URLs: []string{"https://a.example/", "https://b.example/"}, Keys: []string{k, k}, Types: []string{"static", "static", "static"}},
			"2 --log but 3 --log-type: give one type, or one per log"},
		{LogsConfig{URLs: []string{"https://a.example/"}, Keys: []string{k}, Types: []string{"carrier-pigeon"}}, "unknown log type"},
		{LogsConfig{URLs: []string{"https://a.example/"}, Keys: []string{"bm90IGEga2V5"}}, "--log https://a.example/: "},
		{LogsConfig{URLs: []string{"ftp://a.example/"}, Keys: []string{k}}, "--log ftp://a.example/: "},
		{LogsConfig{Configured: []LogConfig{{URL: "https://a.example/", Key: k}, {URL: "https://b.example/", Key: k, Type: "tape"}}}, "ct.logs[1]: "},
		{LogsConfig{Configured: []LogConfig{{URL: "https://a.example/"}}}, "ct.logs[0]: "},
		{LogsConfig{LogList: "/nonexistent/log_list.json"}, "log list"},
		{LogsConfig{LogList: testdata + "/log_list.json", States: []string{"no-such-state"}}, "no CT logs"},
	}
	for _, tc := range cases {
		logs, err := tc.c.Logs()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, %v; want an error with %q", tc.c, logNames(logs), err, tc.want)
		}
	}
	if _, err := (LogsConfig{}).Logs(); !errors.Is(err, ErrNoLogs) {
		t.Errorf("no logs: %v, want ErrNoLogs", err)
	}
}

// TestLogsConfigOver: the command line's settings over the config's.
func TestLogsConfigOver(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	file := LogsConfig{LogList: "file.json", States: []string{StateUsable},
		Configured: []LogConfig{{URL: "https://file.example/", Key: k2}}, URLs: []string{"https://dropped.example/"}}
	flags := LogsConfig{URLs: []string{"https://flag.example/"}, Keys: []string{k1}, Types: []string{"static"}}
	got := flags.Over(file)
	if got.LogList != "file.json" || !slices.Equal(got.States, []string{StateUsable}) ||
		!slices.Equal(got.URLs, flags.URLs) || !slices.Equal(got.Keys, flags.Keys) || !slices.Equal(got.Types, flags.Types) ||
		len(got.Configured) != 1 || got.Configured[0].URL != "https://file.example/" {
		t.Fatalf("flags over file: %+v", got)
	}
	flags.LogList, flags.States = "flag.json", []string{StateReadOnly}
	flags.Configured = append(make([]LogConfig, 0, 4), LogConfig{URL: "https://flag-configured.example/", Key: k1})
	got = flags.Over(file)
	if got.LogList != "flag.json" || !slices.Equal(got.States, []string{StateReadOnly}) || len(got.Configured) != 2 ||
		got.Configured[0].URL != "https://flag-configured.example/" || got.Configured[1].URL != "https://file.example/" {
		t.Fatalf("flags with a log list over file: %+v", got)
	}
	if spare := flags.Configured[:2][1]; spare.URL != "" {
		t.Errorf("Over wrote into its receiver's spare capacity: %+v", spare)
	}
}
