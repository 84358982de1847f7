package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestScrubber(t *testing.T) {
	scrub := Scrubber([]string{"s3cret-pin", "abc", ""})
	for in, want := range map[string]string{
		"login with s3cret-pin failed":    "login with *** failed",
		"abc is too short to be scrubbed": "abc is too short to be scrubbed",
		"first s3cret-pin\nsecond":        "first *** (and more)",
		"":                                "",
	} {
		if got := scrub(in); got != want {
			t.Errorf("scrub(%q) = %q, want %q", in, got, want)
		}
	}

	wrapped := fmt.Errorf("open: %w", fs.ErrNotExist)
	if err := ScrubError(wrapped, scrub); err != wrapped || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ScrubError changed an error without secrets: %v", err)
	}
	if err := ScrubError(errors.New("pin s3cret-pin"), scrub); err == nil || err.Error() != "pin ***" {
		t.Errorf("ScrubError = %v", err)
	}
	if err := ScrubError(nil, scrub); err != nil {
		t.Errorf("ScrubError(nil) = %v", err)
	}
	if err := ScrubError(wrapped, nil); err != wrapped {
		t.Errorf("ScrubError(nil scrub) = %v", err)
	}
}

func TestDefaultsApply(t *testing.T) {
	d := Defaults{Owner: "pki", Purpose: "tls", Cryptoperiod: "1y"}
	k := Key{Owner: "web-team"}
	d.Apply(&k)
	if k.Owner != "web-team" || k.Purpose != "tls" || k.Cryptoperiod != "1y" {
		t.Errorf("Apply: %+v, want the key's owner kept and the rest filled", k)
	}
	var empty Key
	Defaults{}.Apply(&empty)
	if empty.Owner != "" || empty.Purpose != "" || empty.Cryptoperiod != "" {
		t.Errorf("empty defaults set %+v", empty)
	}
}
