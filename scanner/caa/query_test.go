package caa

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCAALookupNames(t *testing.T) {
	got, err := LookupNames([]string{"Example.COM.", "*.example.com", "example.com", " www.example.com ", "*.Example.com."})
	if want := []string{"example.com", "*.example.com", "www.example.com"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("LookupNames = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"", "a.*.example.com", "192.0.2.1", strings.Repeat("a", 64) + ".example"} {
		if _, err := LookupNames([]string{"example.com", bad}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%q: error %v, want ErrInvalidName", bad, err)
		}
	}
	if got, err := LookupNames(nil); err != nil || got != nil {
		t.Errorf("no names: %q %v", got, err)
	}
}

func TestCAAParseIssuers(t *testing.T) {
	got, err := ParseIssuers([]string{"letsencrypt.org", " CA.Example ", "LetsEncrypt.org"})
	if want := []string{"letsencrypt.org", "ca.example"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseIssuers = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"", ";", "letsencrypt.org; accounturi=x", "not a name", "trailing.dot."} {
		_, err := ParseIssuers([]string{"letsencrypt.org", bad})
		if want := `"` + bad + `": not an issuer-domain-name (such as letsencrypt.org)`; err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%q: error %v, want %s", bad, err, want)
		}
	}
}

func TestCAAQueryCheck(t *testing.T) {
	ok := Config{Resolvers: []string{"127.0.0.1:5301"}, Timeout: time.Second, Attempts: 1, Concurrency: 1}
	q, err := Query{Names: []string{"Example.com", "example.com."}, CAs: []string{"LetsEncrypt.org"}, Config: ok}.Check()
	if err != nil || !slices.Equal(q.Names, []string{"example.com"}) || !slices.Equal(q.CAs, []string{"letsencrypt.org"}) || q.Config.Timeout != time.Second {
		t.Errorf("Check = %+v, %v", q, err)
	}
	noLimit := ok
	noLimit.Attempts = 0
	badResolver := ok
	badResolver.Resolvers = []string{"not an address"}
	for name, tt := range map[string]struct {
		q    Query
		want string
	}{
		"bad CA":       {Query{Names: []string{"example.com"}, CAs: []string{"a b"}, Config: ok}, `--ca "a b": not an issuer-domain-name`},
		"bad name":     {Query{Names: []string{"*.*.example.com"}, Config: ok}, "caa: invalid name"},
		"no names":     {Query{Config: ok}, "no names: "},
		"zero limit":   {Query{Names: []string{"example.com"}, Config: noLimit}, "--concurrency, --attempts and --timeout must be positive"},
		"bad resolver": {Query{Names: []string{"example.com"}, Config: badResolver}, "caa: "},
	} {
		if _, err := tt.q.Check(); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q…", name, err, tt.want)
		}
	}
}
