package secretfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ModeError is a secret file whose group or others have access to it.
type ModeError struct {
	// What names the file's role ("pin-source", "account key file").
	What string
	Path string
	Mode fs.FileMode
}

func (e *ModeError) Error() string {
	return fmt.Sprintf("%s %s is readable by group or others (mode %v): chmod go-rwx it", e.What, e.Path, e.Mode.Perm())
}

// Policy is what a reader of secret files does with one others may read.
// The zero Policy accepts it silently.
type Policy struct {
	// Strict refuses the file with a *ModeError.
	Strict bool
	// Warn, when not strict, is told of the file (nil: nothing is said).
	Warn func(error)
}

// Check applies p to the secret file what at path, of mode mode (taken
// from the descriptor the secret is read from). It returns nil when only
// the owner has access, or when p is not strict.
func (p Policy) Check(what, path string, mode fs.FileMode) error {
	if mode.Perm()&0o077 == 0 {
		return nil
	}
	err := &ModeError{What: what, Path: path, Mode: mode}
	if p.Strict {
		return err
	}
	if p.Warn != nil {
		p.Warn(err)
	}
	return nil
}

// ReadFile reads the secret file what at path under p: the mode is taken
// from the opened descriptor (a regular file others may read is warned
// about or refused), and at most max bytes are read, so an endless source
// (/dev/zero, a pipe whose writer never stops) is refused, not drained.
// Errors name the file, never its content.
func (p Policy) ReadFile(what, path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().IsRegular() {
		if err := p.Check(what, path, fi.Mode()); err != nil {
			return nil, err
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return b, nil
}
