package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
)

// marshalInto sets it.Data to the JSON of v.
func marshalInto(it *store.Item, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", it.Kind, err)
	}
	it.Data = b
	return nil
}

func TestFailOn(t *testing.T) {
	high := []reconcile.Finding{{Severity: reconcile.High}}
	for _, tc := range []struct {
		flag string
		want int // -1: no error
	}{
		{"critical", -1}, {"high", exitFindings}, {"low", exitFindings}, {"none", -1},
	} {
		f, err := parseFailOn(tc.flag)
		if err != nil {
			t.Fatalf("%s: %v", tc.flag, err)
		}
		err = f.exit(high)
		var ec *exitCodeError
		switch {
		case tc.want < 0 && err != nil:
			t.Errorf("--fail-on %s: %v, want none", tc.flag, err)
		case tc.want >= 0 && (!errors.As(err, &ec) || ec.code != tc.want):
			t.Errorf("--fail-on %s: %v, want exit %d", tc.flag, err, tc.want)
		}
	}
	var ec *exitCodeError
	if _, err := parseFailOn("severe"); !errors.As(err, &ec) || ec.code != exitError {
		t.Errorf("bad --fail-on: %v, want exit 2", err)
	}
}
