package inventory

import (
	"context"
	"errors"

	"github.com/keyaudit/keyaudit/store/records"
)

// Status is how far a source got.
type Status string

// Source statuses.
const (
	StatusComplete Status = "complete" // every object was listed
	StatusPartial  Status = "partial"  // some objects were listed, then it failed
	StatusFailed   Status = "failed"   // nothing could be listed
)

// Source is one place keys are listed from: a PKCS#11 token (or the tokens
// one URI selects), a set of files. A Source is opened by its package's
// Open (which fails fast on bad input: missing module, unknown token,
// wrong PIN), then listed once.
type Source interface {
	// Name identifies the source in reports and errors. It never contains
	// a PIN or a password.
	Name() string
	// Keys calls emit for every key, in a stable order, and returns how far
	// it got. An error from emit stops the listing and is returned in the
	// Result. Keys must honour ctx.
	Keys(ctx context.Context, emit func(Key) error) Result
	// Close releases the source (sessions, module references).
	Close() error
}

// Result is the outcome of listing one source.
type Result struct {
	Source string `json:"source"`
	Status Status `json:"status"`
	Keys   int    `json:"keys"`
	// Error says why the source is partial or failed.
	Error string `json:"error,omitempty"`
	// Warnings are per-object problems that did not stop the listing
	// (an unreadable file in a directory, an attribute a token refused).
	Warnings []string `json:"warnings,omitempty"`
	// Tokens are the PKCS#11 tokens the source read (sources without
	// tokens leave it empty; reads from before it was recorded lack it).
	Tokens []records.Token `json:"tokens,omitempty"`

	Err error `json:"-"`
}

// Finish sets Status from the error and the count of keys listed: no
// error is complete, an error after some keys is partial, an error before
// any is failed.
func (r *Result) Finish(err error) Result {
	switch {
	case err == nil:
		r.Status = StatusComplete
	case r.Keys > 0:
		r.Status, r.Err, r.Error = StatusPartial, err, err.Error()
	default:
		r.Status, r.Err, r.Error = StatusFailed, err, err.Error()
	}
	return *r
}

// ErrInput marks errors caused by the user's input (a URI naming no token,
// a missing module, a wrong PIN, a path that does not exist): the command
// could not run as asked. Sources wrap it so the CLI can tell bad input
// from a failing device.
var ErrInput = errors.New("bad input")

// InputError is an error caused by the user's input.
type InputError struct {
	Err error
}

func (e *InputError) Error() string        { return e.Err.Error() }
func (e *InputError) Unwrap() error        { return e.Err }
func (e *InputError) Is(target error) bool { return target == ErrInput }

// Input wraps err as an InputError (nil stays nil).
func Input(err error) error {
	if err == nil {
		return nil
	}
	return &InputError{Err: err}
}

// Defaults are a source's values for the keys it lists: each fills the
// key's field when the source left it empty. Metadata rules apply after
// them.
type Defaults struct {
	Owner   string `yaml:"owner" json:"owner,omitempty"`
	Purpose string `yaml:"purpose" json:"purpose,omitempty"`
	// Cryptoperiod is checked by ParsePeriod.
	Cryptoperiod string `yaml:"cryptoperiod" json:"cryptoperiod,omitempty"`
}

// Apply fills k's empty owner, purpose and cryptoperiod from d.
func (d Defaults) Apply(k *Key) {
	if k.Owner == "" {
		k.Owner = d.Owner
	}
	if k.Purpose == "" {
		k.Purpose = d.Purpose
	}
	if k.Cryptoperiod == "" {
		k.Cryptoperiod = d.Cryptoperiod
	}
}

// Opened is an opened Source and the defaults for the keys it lists.
type Opened struct {
	Source   Source
	Defaults Defaults
}

// CloseAll closes every source of srcs.
func CloseAll(srcs []Opened) {
	for _, s := range srcs {
		s.Source.Close()
	}
}
