package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/inventory"
)

// TokenOptions are the caller's choices for OpenToken.
type TokenOptions struct {
	// Module is the library used when the URI names none (neither
	// module-path nor module-name).
	Module string
	// Login asks for a login even on a token that does not require one
	// (a caller signing with a private key); without a PIN that is
	// ErrNoPIN. Otherwise a token that does not require a login is used
	// without one when no PIN is given.
	Login bool
	// Log receives debug events (never the PIN); nil discards.
	Log *slog.Logger

	// wrap lets tests observe the calls made (nil: direct).
	wrap func(p11) p11
}

// Token is one selected token of a loaded module, with a session open on
// it and, when a PIN was given or the token needed one, logged in. It
// holds a reference to the module: the module stays initialized until
// every Token (and Source) using it is closed, however many parts of the
// process opened it.
type Token struct {
	Slot uint
	Info pkcs11.TokenInfo
	// Label, Serial, Manufacturer and Model are Info's fields without the
	// padding.
	Label, Serial, Manufacturer, Model string
	// Session is a serial session (CKF_SERIAL_SESSION: read-only, able to
	// find objects and sign with existing keys).
	Session pkcs11.SessionHandle
	// LoggedIn reports that this Token holds a share of the process's
	// login to the token; the last share to close logs out.
	LoggedIn bool

	mod    *module
	p      p11
	closed atomic.Bool
}

// Ctx is the module's PKCS#11 context, for calls beyond what this package
// makes (C_SignInit, C_Sign) on Session. It must not be finalized or
// destroyed: Close does that when the module's last user closes.
func (t *Token) Ctx() *pkcs11.Ctx { return t.mod.ctx }

// ModulePath is the absolute path of the token's library.
func (t *Token) ModulePath() string { return t.mod.path }

// OpenToken loads the module the URI names (module-path, else
// module-name, else opts.Module), selects the one token its attributes
// match (library-*, token, serial, manufacturer, model, slot-id,
// slot-description, slot-manufacturer), opens a session and logs in at
// most once: not without a PIN (ErrNoPIN if the token or opts requires a
// login), not when the token says its PIN is locked or on its final try
// (ErrPINLocked), with an empty PIN on a protected authentication path.
// A wrong PIN is ErrPINIncorrect and is not retried. Errors caused by the
// input wrap inventory.ErrInput as well as this package's sentinel; none
// contains the PIN.
func OpenToken(ctx context.Context, u *pkcs11uri.URI, pin string, opts TokenOptions) (*Token, error) {
	ts, err := openTokens(ctx, u, pin, opts, true)
	if err != nil {
		return nil, err
	}
	return ts[0], nil
}

// openTokens opens every token u selects as OpenToken does one; with one,
// a URI selecting several tokens is refused before any session opens.
func openTokens(ctx context.Context, u *pkcs11uri.URI, pin string, opts TokenOptions, one bool) ([]*Token, error) {
	if u == nil {
		return nil, inventory.Input(errors.New("pkcs11: no URI"))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	path, err := modulePath(u, opts.Module)
	if err != nil {
		return nil, err
	}
	m, err := acquire(path)
	if err != nil {
		return nil, err
	}
	defer m.release() // each Token holds its own reference
	var p p11 = m.ctx
	if opts.wrap != nil {
		p = opts.wrap(p)
	}
	found, err := selectTokens(p, m, u, log)
	if err != nil {
		return nil, err
	}
	if one && len(found) > 1 {
		labels := make([]string, len(found))
		for i, t := range found {
			labels[i] = strconv.Quote(t.Label)
		}
		return nil, inventory.Input(fmt.Errorf("%w: %s selects %d tokens in %s (%s): name one (token=, serial=)",
			ErrTokenAmbiguous, u.Path(), len(found), m.path, strings.Join(labels, ", ")))
	}
	closeAll := func(ts []*Token) {
		for _, t := range ts {
			_ = t.Close()
		}
	}
	var out []*Token
	for _, t := range found {
		if err := ctx.Err(); err != nil {
			closeAll(out)
			return nil, err
		}
		t.mod, t.p = m.ref(), p
		if err := t.open(pin, opts, log); err != nil {
			_ = t.Close()
			closeAll(out)
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// modulePath resolves the library the URI names, else def.
func modulePath(u *pkcs11uri.URI, def string) (string, error) {
	path := u.ModulePath
	if path == "" && u.ModuleName != "" {
		p, err := findModule(u.ModuleName)
		if err != nil {
			return "", err
		}
		path = p
	}
	if path == "" {
		path = def
	}
	if path == "" {
		return "", inventory.Input(fmt.Errorf("%w: %s names no module: add ?module-path=/path/to/lib.so", ErrModule, u.String()))
	}
	return path, nil
}

func trim(s string) string { return strings.TrimRight(s, " \x00") }

// selectTokens returns the initialized tokens of m that u's attributes
// match, in slot order; none is ErrTokenNotFound naming the tokens there
// are.
func selectTokens(p p11, m *module, u *pkcs11uri.URI, log *slog.Logger) ([]*Token, error) {
	if !libraryMatches(u, m.info) {
		return nil, inventory.Input(fmt.Errorf("%w %s: module %s does not match the URI's library attributes", ErrTokenNotFound, u.Path(), m.path))
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %s: C_GetSlotList: %w", m.path, err)
	}
	var seen []string
	var out []*Token
	for _, slot := range slots {
		ti, err := p.GetTokenInfo(slot)
		if err != nil {
			log.Debug("pkcs11: skipping slot", "slot", slot, "error", err)
			continue
		}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue // SoftHSM's spare slot and blank cards: nothing to use
		}
		t := &Token{Slot: slot, Info: ti, Label: trim(ti.Label), Serial: trim(ti.SerialNumber),
			Manufacturer: trim(ti.ManufacturerID), Model: trim(ti.Model)}
		seen = append(seen, t.Label)
		if u.Token != "" && u.Token != t.Label || u.Serial != "" && u.Serial != t.Serial ||
			u.Manufacturer != "" && u.Manufacturer != t.Manufacturer || u.Model != "" && u.Model != t.Model ||
			u.HasSlotID && u.SlotID != uint64(slot) {
			continue
		}
		if u.SlotDescription != "" || u.SlotManufacturer != "" {
			si, err := p.GetSlotInfo(slot)
			if err != nil || u.SlotDescription != "" && u.SlotDescription != trim(si.SlotDescription) ||
				u.SlotManufacturer != "" && u.SlotManufacturer != trim(si.ManufacturerID) {
				continue
			}
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		sort.Strings(seen)
		have := "no initialized tokens"
		if len(seen) > 0 {
			q := make([]string, len(seen))
			for i, l := range seen {
				q[i] = strconv.Quote(l)
			}
			have = "tokens present: " + strings.Join(q, ", ")
		}
		return nil, inventory.Input(fmt.Errorf("%w %s in %s (%s)", ErrTokenNotFound, u.Path(), m.path, have))
	}
	return out, nil
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

// open opens t's session and logs in at most once.
func (t *Token) open(pin string, opts TokenOptions, log *slog.Logger) error {
	sh, err := t.p.OpenSession(t.Slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return fmt.Errorf("pkcs11: token %q: C_OpenSession: %w", t.Label, err)
	}
	t.Session = sh
	protected := t.Info.Flags&pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH != 0
	if pin == "" && !protected {
		required := t.Info.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0
		if required || opts.Login {
			why := "requires login"
			if !required {
				why = "needs a login to use its private keys"
			}
			return inventory.Input(fmt.Errorf("%w: token %q %s: give pin-source=file:PATH in the URI or set $%s", ErrNoPIN, t.Label, why, PINEnv))
		}
		return nil
	}
	m := t.mod
	m.loginMu.Lock()
	defer m.loginMu.Unlock()
	if m.logins[t.Slot] > 0 {
		// Another Token of this process logged in: the login is the
		// token's, shared by every session; no PIN attempt is spent.
		m.logins[t.Slot]++
		t.LoggedIn = true
		return nil
	}
	// A locked PIN cannot log in, and on the final try a wrong PIN would
	// lock the token: do not spend the attempt.
	if t.Info.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0 {
		return inventory.Input(fmt.Errorf("%w: token %q: the user PIN is locked (the SO must unlock it)", ErrPINLocked, t.Label))
	}
	if t.Info.Flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0 {
		return inventory.Input(fmt.Errorf("%w: token %q: one PIN attempt is left before it locks; not logging in (check the PIN, then log in once by hand)", ErrPINLocked, t.Label))
	}
	if protected {
		pin = "" // the PIN pad asks
	}
	err = t.p.Login(sh, pkcs11.CKU_USER, pin)
	var code pkcs11.Error
	switch {
	case err == nil:
		m.logins[t.Slot] = 1
		t.LoggedIn = true
	case errors.As(err, &code) && code == pkcs11.CKR_USER_ALREADY_LOGGED_IN:
		// logged in through another handle on the library in this
		// process: that login is not ours to end
	case errors.As(err, &code) && (code == pkcs11.CKR_PIN_INCORRECT || code == pkcs11.CKR_PIN_LEN_RANGE || code == pkcs11.CKR_PIN_INVALID):
		return inventory.Input(fmt.Errorf("%w for token %q (not retried: tokens lock after a few wrong PINs)", ErrPINIncorrect, t.Label))
	case errors.As(err, &code) && code == pkcs11.CKR_PIN_LOCKED:
		return inventory.Input(fmt.Errorf("%w: token %q", ErrPINLocked, t.Label))
	default:
		return fmt.Errorf("pkcs11: token %q: C_Login: %w", t.Label, err)
	}
	log.Debug("pkcs11: logged in", "token", t.Label, "serial", t.Serial)
	return nil
}

// Close gives up the Token's share of the login (the last share logs
// out), closes its session and releases the module (the last user
// finalizes it). Sessions the caller opened on the slot must be closed
// first. Closing twice does nothing.
func (t *Token) Close() error {
	if t.mod == nil || !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	m := t.mod
	if t.Session != 0 {
		if t.LoggedIn {
			m.loginMu.Lock()
			if m.logins[t.Slot]--; m.logins[t.Slot] <= 0 {
				delete(m.logins, t.Slot)
				_ = t.p.Logout(t.Session)
			}
			m.loginMu.Unlock()
		}
		_ = t.p.CloseSession(t.Session)
	}
	m.release()
	return nil
}
