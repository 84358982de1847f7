package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
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

// ResolvePIN returns the PIN for u: the content of its pin-source file,
// else the value of $KEYAUDIT_PKCS11_PIN (looked up with getenv), else "".
// A URI carrying pin-value is refused: a PIN in a URI ends up in argv,
// shell history and process listings.
func ResolvePIN(u *pkcs11uri.URI, getenv func(string) string) (string, error) {
	if u.PINValue != "" {
		return "", inventory.Input(errors.New("pkcs11: pin-value is not accepted in a URI (it would show in argv and shell history): use pin-source=file:PATH or $" + PINEnv))
	}
	if u.PINSource != "" {
		pin, err := u.ReadPIN()
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
	mod    *module
	p      p11
	name   string
	tokens []*token
	log    *slog.Logger
	closed bool
}

// token is one selected token with its open session.
type token struct {
	slot     uint
	info     pkcs11.TokenInfo
	label    string
	serial   string
	manuf    string
	model    string
	session  pkcs11.SessionHandle
	extra    []pkcs11.SessionHandle // more read-only sessions for parallel reads
	loggedIn bool
}

var _ inventory.Source = (*Source)(nil)

// Open loads the module, selects the tokens, opens a read-only session on
// each and logs in once. Errors caused by the input — no such module, no
// matching token, wrong or locked PIN — wrap inventory.ErrInput. The
// error never contains the PIN.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	if cfg.URI == nil {
		return nil, inventory.Input(errors.New("pkcs11: no URI"))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, log: cfg.Log}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.name = cfg.URI.String()
	path := cfg.URI.ModulePath
	if path == "" && cfg.URI.ModuleName != "" {
		p, err := findModule(cfg.URI.ModuleName)
		if err != nil {
			return nil, err
		}
		path = p
	}
	if path == "" {
		path = cfg.Module
	}
	if path == "" {
		return nil, inventory.Input(fmt.Errorf("%w: %s names no module: add ?module-path=/path/to/lib.so", ErrModule, s.name))
	}
	m, err := acquire(path)
	if err != nil {
		return nil, err
	}
	s.mod = m
	s.p = m.ctx
	if cfg.wrap != nil {
		s.p = cfg.wrap(s.p)
	}
	if err := s.selectTokens(); err != nil {
		s.Close()
		return nil, err
	}
	for _, t := range s.tokens {
		if err := ctx.Err(); err != nil {
			s.Close()
			return nil, err
		}
		if err := s.openToken(t); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func trim(s string) string { return strings.TrimRight(s, " \x00") }

func (s *Source) selectTokens() error {
	u := s.cfg.URI
	if !libraryMatches(u, s.mod.info) {
		return inventory.Input(fmt.Errorf("%w %s: module %s does not match the URI's library attributes", ErrTokenNotFound, u.Path(), s.mod.path))
	}
	slots, err := s.p.GetSlotList(true)
	if err != nil {
		return fmt.Errorf("pkcs11: C_GetSlotList: %w", err)
	}
	var seen []string
	for _, slot := range slots {
		ti, err := s.p.GetTokenInfo(slot)
		if err != nil {
			s.log.Debug("pkcs11: skipping slot", "slot", slot, "error", err)
			continue
		}
		t := &token{slot: slot, info: ti, label: trim(ti.Label), serial: trim(ti.SerialNumber),
			manuf: trim(ti.ManufacturerID), model: trim(ti.Model)}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue // SoftHSM's spare slot and blank cards: nothing to list
		}
		seen = append(seen, t.label)
		if u.Token != "" && u.Token != t.label || u.Serial != "" && u.Serial != t.serial ||
			u.Manufacturer != "" && u.Manufacturer != t.manuf || u.Model != "" && u.Model != t.model ||
			u.HasSlotID && u.SlotID != uint64(slot) {
			continue
		}
		if u.SlotDescription != "" || u.SlotManufacturer != "" {
			si, err := s.p.GetSlotInfo(slot)
			if err != nil || u.SlotDescription != "" && u.SlotDescription != trim(si.SlotDescription) ||
				u.SlotManufacturer != "" && u.SlotManufacturer != trim(si.ManufacturerID) {
				continue
			}
		}
		s.tokens = append(s.tokens, t)
	}
	if len(s.tokens) == 0 {
		sort.Strings(seen)
		have := "no initialized tokens"
		if len(seen) > 0 {
			q := make([]string, len(seen))
			for i, l := range seen {
				q[i] = strconv.Quote(l)
			}
			have = "tokens present: " + strings.Join(q, ", ")
		}
		return inventory.Input(fmt.Errorf("%w %s in %s (%s)", ErrTokenNotFound, u.Path(), s.mod.path, have))
	}
	return nil
}

func libraryMatches(u *pkcs11uri.URI, info pkcs11.Info) bool {
	if u.LibraryManufacturer != "" && u.LibraryManufacturer != trim(info.ManufacturerID) {
		return false
	}
	if u.LibraryDescription != "" && u.LibraryDescription != trim(info.LibraryDescription) {
		return false
	}
	if u.LibraryVersion != "" {
		v := fmt.Sprintf("%d.%d", info.LibraryVersion.Major, info.LibraryVersion.Minor)
		if u.LibraryVersion != v && u.LibraryVersion+".0" != v {
			return false
		}
	}
	return true
}

// openToken opens a read-only session and logs in at most once.
func (s *Source) openToken(t *token) error {
	sh, err := s.p.OpenSession(t.slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return fmt.Errorf("pkcs11: token %q: C_OpenSession: %w", t.label, err)
	}
	t.session = sh
	pin := s.cfg.PIN
	protected := t.info.Flags&pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH != 0
	if pin == "" && !protected {
		if t.info.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0 {
			return inventory.Input(fmt.Errorf("%w: token %q requires login: give pin-source=file:PATH in the URI or set $%s", ErrNoPIN, t.label, PINEnv))
		}
		return nil
	}
	// A locked PIN cannot log in, and on the final try a wrong PIN would
	// lock the token: do not spend the attempt.
	if t.info.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0 {
		return inventory.Input(fmt.Errorf("%w: token %q: the user PIN is locked (the SO must unlock it)", ErrPINLocked, t.label))
	}
	if t.info.Flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0 {
		return inventory.Input(fmt.Errorf("%w: token %q: one PIN attempt is left before it locks; not logging in (check the PIN, then log in once by hand)", ErrPINLocked, t.label))
	}
	if protected {
		pin = "" // the PIN pad asks
	}
	err = s.p.Login(sh, pkcs11.CKU_USER, pin)
	var code pkcs11.Error
	switch {
	case err == nil:
		t.loggedIn = true
	case errors.As(err, &code) && code == pkcs11.CKR_USER_ALREADY_LOGGED_IN:
		// another session of this process is logged in to the token
	case errors.As(err, &code) && (code == pkcs11.CKR_PIN_INCORRECT || code == pkcs11.CKR_PIN_LEN_RANGE || code == pkcs11.CKR_PIN_INVALID):
		return inventory.Input(fmt.Errorf("%w for token %q (not retried: tokens lock after a few wrong PINs)", ErrPINIncorrect, t.label))
	case errors.As(err, &code) && code == pkcs11.CKR_PIN_LOCKED:
		return inventory.Input(fmt.Errorf("%w: token %q", ErrPINLocked, t.label))
	default:
		return fmt.Errorf("pkcs11: token %q: C_Login: %w", t.label, err)
	}
	s.log.Debug("pkcs11: logged in", "token", t.label, "serial", t.serial)
	return nil
}

// Name is the source's URI without PIN or pin-source.
func (s *Source) Name() string { return s.name }

// Close logs out, closes the sessions and releases the module.
func (s *Source) Close() error {
	if s.closed || s.mod == nil {
		return nil
	}
	s.closed = true
	for _, t := range s.tokens {
		for _, sh := range t.extra {
			_ = s.p.CloseSession(sh)
		}
		if t.session == 0 {
			continue
		}
		if t.loggedIn {
			_ = s.p.Logout(t.session)
		}
		_ = s.p.CloseSession(t.session)
	}
	s.mod.release()
	return nil
}
