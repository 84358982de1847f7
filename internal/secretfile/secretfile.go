package secretfile

import (
	"fmt"
	"io/fs"
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
