package ctlog

import (
	"slices"
	"strings"
	"testing"
)

func TestWatchlistMatch(t *testing.T) {
	w, err := NewWatchlist([]string{"example.com", ".corp.example.org", "*.wild.test", "Bücher.example", "  ", "exact.test."})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		want string // matched entries joined by space; "" none
	}{
		{"example.com", "example.com"},
		{"www.example.com", "example.com"},
		{"a.b.c.example.com", "example.com"},
		{"*.example.com", "example.com"},
		{"notexample.com", ""},
		{"example.com.evil.test", ""},
		{"example.co", ""},
		{"corp.example.org", ""}, // subdomains only
		{"mail.corp.example.org", ".corp.example.org"},
		{"*.corp.example.org", ".corp.example.org"},
		{"example.org", ""},
		{"wild.test", ""},
		{"x.wild.test", ".wild.test"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"www.xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"exact.test", "exact.test"},
		{"*.test", "exact.test"}, // a wildcard one label above covers the watched name
		{"*.com", "example.com"},
		{"*.org", ""}, // .corp.example.org is two labels below
		{"sub.exact.test", "exact.test"},
	}
	for _, c := range cases {
		n, ok := NormalizeName(c.name)
		if !ok {
			t.Fatalf("%q does not normalise", c.name)
		}
		if got := strings.Join(w.Match(n), " "); got != c.want {
			t.Errorf("Match(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	if got := w.Entries(); !slices.Equal(got, []string{"example.com", ".corp.example.org", ".wild.test", "xn--bcher-kva.example", "exact.test"}) {
		t.Errorf("entries %v", got)
	}
}

func TestWatchlistRejects(t *testing.T) {
	for _, bad := range []string{"exa mple.com", "a/b", "*", "foo.*.com", "user@example.com"} {
		if _, err := NewWatchlist([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	cases := map[string]string{
		"WWW.Example.COM.":      "www.example.com",
		"bücher.example":        "xn--bcher-kva.example",
		"*.Bücher.example":      "*.xn--bcher-kva.example",
		"XN--BCHER-KVA.example": "xn--bcher-kva.example",
		"ÉCOLE.fr":              "xn--cole-9oa.fr",
	}
	for in, want := range cases {
		if got, ok := NormalizeName(in); !ok || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", ".", "a b", "a\x00b", "http://x"} {
		if _, ok := NormalizeName(bad); ok {
			t.Errorf("NormalizeName(%q) accepted", bad)
		}
	}
}

func TestLogList(t *testing.T) {
	ll, err := ReadLogList(testdata + "/log_list.json")
	if err != nil {
		t.Fatal(err)
	}
	logs, err := ll.Logs()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range logs {
		got = append(got, string(l.Type)+" "+l.State+" "+l.URL)
		if l.ID != LogID(l.KeyDER) || l.Description == "" {
			t.Errorf("log %+v", l)
		}
		if l.State == StateReadOnly && l.FinalTreeSize != 123456 {
			t.Errorf("readonly final tree size %d", l.FinalTreeSize)
		}
	}
	want := []string{
		"rfc6962 usable https://ct.example.org/usable2026h1/",
		"rfc6962 qualified https://ct.example.org/qualified2026h2/",
		"rfc6962 readonly https://ct.example.org/frozen2025/",
		"static usable https://tiles.example.net/2026h1/",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("logs\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if retired, _ := ll.Logs(StateRetired, StatePending); len(retired) != 2 {
		t.Fatalf("retired+pending: %d", len(retired))
	}
	// A log ID that does not match the key is refused.
	ll.Operators[0].Logs[0].LogID = ll.Operators[0].Logs[1].LogID
	if _, err := ll.Logs(); err == nil {
		t.Fatal("mismatched log_id accepted")
	}
	if _, err := ParseLogList([]byte(`{"operators":[]}`)); err == nil {
		t.Fatal("empty list accepted")
	}
}

func TestParsePublicKey(t *testing.T) {
	pemKey := string(readFile(t, "log-key.pem"))
	_, der, err := ParsePublicKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{testdata + "/log-key.pem", b64(der), " " + b64(der) + "\n"} {
		_, d, err := ParsePublicKey(in)
		if err != nil || string(d) != string(der) {
			t.Errorf("ParsePublicKey(%q): %v", in[:min(20, len(in))], err)
		}
	}
	for _, bad := range []string{"", "bm90IGEga2V5", "/nonexistent/key.pem"} {
		if _, _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseStart(t *testing.T) {
	for in, want := range map[string]string{"": "start", "start": "start", "END": "end", "42": "42"} {
		s, err := ParseStart(in)
		if err != nil || s.String() != want {
			t.Errorf("ParseStart(%q) = %v, %v", in, s, err)
		}
	}
	if _, err := ParseStart("-1"); err == nil {
		t.Error("-1 accepted")
	}
}

// TestMayCoverNeverMissesAMatch: the allocation-free pre-check says "no"
// only for names Match does not cover.
func TestMayCoverNeverMissesAMatch(t *testing.T) {
	w, err := NewWatchlist([]string{"example.com", ".corp.example.org", "*.wild.test", "Bücher.example", "exact.test", "a-b.test"})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"example.com", "www.example.com", "*.example.com", "WWW.Example.COM", "example.com.", "notexample.com",
		"mail.corp.example.org", "corp.example.org", "x.wild.test", "*.test", "*.com", "*.org", "xn--bcher-kva.example",
		"www.bücher.example", "www.example\u3002com", "www.example.com\x00.evil.test", "sub.exact.test", "a-b.test", "other.test", ""}
	for _, n := range names {
		checkMayCover(t, w, n)
	}
}

func checkMayCover(t *testing.T, w *Watchlist, raw string) {
	t.Helper()
	if w.mayCover([]byte(raw)) {
		return
	}
	if n, ok := NormalizeName(raw); ok && len(w.Match(n)) > 0 {
		t.Errorf("mayCover(%q) = false, but Match(%q) = %v", raw, n, w.Match(n))
	}
	if p, ok := nulPrefix(raw); ok && len(w.Match(p)) > 0 {
		t.Errorf("mayCover(%q) = false, but its NUL prefix %q matches", raw, p)
	}
}

func FuzzMayCover(f *testing.F) {
	for _, s := range []string{"www.example.com", "*.com", "a.corp.example.org", "exact.test", "EXAMPLE.com"} {
		f.Add(s)
	}
	w, err := NewWatchlist([]string{"example.com", ".corp.example.org", "exact.test"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) { checkMayCover(t, w, raw) })
}
