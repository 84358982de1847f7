package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fsMode(m uint32) fs.FileMode { return fs.FileMode(m) }

func TestPolicy(t *testing.T) {
	var warned []error
	warn := Policy{Warn: func(err error) { warned = append(warned, err) }}
	strict := Policy{Strict: true, Warn: warn.Warn}
	for _, c := range []struct {
		mode       uint32
		open       bool
		wantStrict bool
	}{{0o600, false, false}, {0o400, false, false}, {0o640, true, true}, {0o604, true, true}, {0o620, true, true}} {
		warned = nil
		if err := warn.Check("pin-source", "/run/pin", fsMode(c.mode)); err != nil {
			t.Errorf("%o: warn policy refused: %v", c.mode, err)
		}
		if (len(warned) == 1) != c.open {
			t.Errorf("%o: warned %v", c.mode, warned)
		}
		err := strict.Check("pin-source", "/run/pin", fsMode(c.mode))
		var me *ModeError
		if (err != nil) != c.wantStrict || (err != nil && (!errors.As(err, &me) || !strings.Contains(err.Error(), "pin-source /run/pin is readable by group or others"))) {
			t.Errorf("%o: strict: %v", c.mode, err)
		}
	}
	if err := (Policy{}).Check("x", "y", 0o666); err != nil {
		t.Errorf("zero policy: %v", err)
	}
}

// TestReadFile: the mode is checked on the opened file, the size is capped
// (an endless source is refused, not drained), and errors never carry the
// content.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.key")
	if err := os.WriteFile(open, []byte("s3cret"), 0o644); err != nil {
		t.Fatal(err)
	}
	var warned []error
	lax := Policy{Warn: func(err error) { warned = append(warned, err) }}
	if b, err := lax.ReadFile("key file", open, 64); err != nil || string(b) != "s3cret" || len(warned) != 1 {
		t.Fatalf("lax: %q, %v, warnings %v", b, err, warned)
	}
	var me *ModeError
	if _, err := (Policy{Strict: true}).ReadFile("key file", open, 64); !errors.As(err, &me) || me.What != "key file" {
		t.Fatalf("strict: %v", err)
	}
	if _, err := (Policy{}).ReadFile("key file", open, 3); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("over the cap: %v", err)
	}
	if _, err := (Policy{}).ReadFile("key file", "/dev/zero", 1<<10); err == nil {
		t.Fatal("an endless source was read")
	}
}
