package secretfile

import (
	"errors"
	"io/fs"
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
