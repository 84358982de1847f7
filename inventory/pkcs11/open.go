package pkcs11

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/inventory"
)

// PINEnv is the environment variable holding the PIN when the URI has no
// pin-source.
const PINEnv = "KEYAUDIT_PKCS11_PIN"

// Config selects the tokens and objects of one source.
type Config struct {
	// URI selects the module (module-path or module-name), the tokens
	// (token, manufacturer, serial, model, slot-id, …) and optionally the
	// objects (object, id, type). Required.
	URI *pkcs11uri.URI
	// Module is the library used when URI names none.
	Module string
	// PIN logs in to every selected token; empty means no login, which
	// fails for tokens that require one. See ResolvePIN.
	PIN string
	// Log receives debug events (never the PIN); nil discards.
	Log *slog.Logger

	// wrap lets tests observe the calls made (nil: direct).
	wrap func(p11) p11
}

// ErrPINValue refuses a URI that carries its PIN (pin-value): a PIN in a
// URI ends up in argv, shell history and process listings.
var ErrPINValue = errors.New("pkcs11: pin-value is not accepted in a URI (it would show in argv and shell history): use pin-source=file:PATH or $" + PINEnv)

// CheckURI refuses what ResolvePIN refuses before any file is read: a
// URI carrying pin-value (ErrPINValue).
func CheckURI(u *pkcs11uri.URI) error {
	if u.PINValue != "" {
		return inventory.Input(ErrPINValue)
	}
	return nil
}

// ResolvePIN returns the PIN for u: the content of its pin-source file
// (one its group or others may read is warned about or refused as
// secrets says), else the value of $KEYAUDIT_PKCS11_PIN (looked up with
// getenv), else "". A URI carrying pin-value is refused (CheckURI).
func ResolvePIN(u *pkcs11uri.URI, getenv func(string) string, secrets secretfile.Policy) (string, error) {
	if err := CheckURI(u); err != nil {
		return "", err
	}
	if u.PINSource != "" {
		pin, err := u.ReadPIN(secrets)
		if err != nil {
			return "", inventory.Input(err)
		}
		return pin, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	return getenv(PINEnv), nil
}

// Source lists the objects of the tokens one URI selects.
type Source struct {
	cfg    Config
	name   string
	tokens []*token
	log    *slog.Logger
	closed bool
}

// token is one selected token, with the extra read-only sessions opened
// for parallel reads.
type token struct {
	*Token
	extra []pkcs11.SessionHandle
}

var _ inventory.Source = (*Source)(nil)

// Open loads the module, selects the tokens, opens a read-only session on
// each and logs in once, as OpenToken does for one. Errors caused by the
// input — no such module, no matching token, wrong or locked PIN — wrap
// inventory.ErrInput. The error never contains the PIN.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	s := &Source{cfg: cfg, log: cfg.Log}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ts, err := openTokens(ctx, cfg.URI, cfg.PIN, TokenOptions{Module: cfg.Module, Log: s.log, wrap: cfg.wrap}, false)
	if err != nil {
		return nil, err
	}
	s.name = cfg.URI.String()
	for _, t := range ts {
		s.tokens = append(s.tokens, &token{Token: t})
	}
	return s, nil
}

// Name is the source's URI without PIN or pin-source.
func (s *Source) Name() string { return s.name }

// Close logs out, closes the sessions and releases the module.
func (s *Source) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	for _, t := range s.tokens {
		for _, sh := range t.extra {
			_ = t.p.CloseSession(sh)
		}
		_ = t.Close()
	}
	return nil
}
