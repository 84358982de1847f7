package pkcs11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/inventory"
)

// p11 is the part of the PKCS#11 API this package calls; *pkcs11.Ctx
// implements it. Tests wrap it to count calls (one C_Login, no CKA_VALUE of
// a key).
type p11 interface {
	GetInfo() (pkcs11.Info, error)
	GetSlotList(tokenPresent bool) ([]uint, error)
	GetSlotInfo(slotID uint) (pkcs11.SlotInfo, error)
	GetTokenInfo(slotID uint) (pkcs11.TokenInfo, error)
	OpenSession(slotID uint, flags uint) (pkcs11.SessionHandle, error)
	CloseSession(sh pkcs11.SessionHandle) error
	Login(sh pkcs11.SessionHandle, userType uint, pin string) error
	Logout(sh pkcs11.SessionHandle) error
	FindObjectsInit(sh pkcs11.SessionHandle, temp []*pkcs11.Attribute) error
	FindObjects(sh pkcs11.SessionHandle, max int) ([]pkcs11.ObjectHandle, bool, error)
	FindObjectsFinal(sh pkcs11.SessionHandle) error
	GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error)
	DestroyObject(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle) error
}

// module is one loaded PKCS#11 library. C_Initialize and C_Finalize act on
// the whole process, and a library dlopen'ed twice is the same library, so
// sources of one module share it: the last to close finalizes it.
type module struct {
	path string
	ctx  *pkcs11.Ctx
	refs int
	info pkcs11.Info
	// owned is false when someone else in the process had initialized the
	// library already: then it is not ours to finalize.
	owned bool

	// loginMu serializes C_Login and C_Logout. A login belongs to the
	// token, not to a session: logins counts, per slot, the Tokens sharing
	// the one this module made, so that the first to close does not log
	// the others out.
	loginMu sync.Mutex
	logins  map[uint]int
}

var (
	modulesMu sync.Mutex
	modules   = map[string]*module{}
)

// Errors returned by Open and OpenToken; each is wrapped in an
// inventory.InputError.
var (
	ErrModule         = errors.New("pkcs11: module")
	ErrTokenNotFound  = errors.New("pkcs11: no token matches")
	ErrTokenAmbiguous = errors.New("pkcs11: more than one token matches")
	ErrPINIncorrect   = errors.New("pkcs11: PIN incorrect")
	ErrPINLocked      = errors.New("pkcs11: PIN locked")
	ErrNoPIN          = errors.New("pkcs11: PIN needed")
)

// moduleDirs are searched for a module-name.
var moduleDirs = []string{
	"/usr/lib/x86_64-linux-gnu/pkcs11", "/usr/lib/aarch64-linux-gnu/pkcs11", "/usr/lib/pkcs11",
	"/usr/lib64/pkcs11", "/usr/lib/softhsm", "/usr/lib/x86_64-linux-gnu/softhsm",
	"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
	"/usr/local/lib/pkcs11", "/usr/local/lib/softhsm", "/usr/local/lib",
}

// findModule resolves a module-name ("softhsm2") to a library path.
func findModule(name string) (string, error) {
	if filepath.Base(name) != name {
		return "", inventory.Input(fmt.Errorf("%w: module-name %q must be a bare name (use module-path for a path)", ErrModule, name))
	}
	for _, d := range moduleDirs {
		for _, f := range []string{name + ".so", "lib" + name + ".so", name} {
			p := filepath.Join(d, f)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	return "", inventory.Input(fmt.Errorf("%w: no library for module-name %q (give module-path)", ErrModule, name))
}

// acquire loads and initializes the module at path, or shares the one
// already loaded.
func acquire(path string) (*module, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, inventory.Input(fmt.Errorf("%w %s: %v", ErrModule, path, err))
	}
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m, ok := modules[abs]; ok {
		m.refs++
		return m, nil
	}
	st, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, inventory.Input(fmt.Errorf("%w %s: no such file", ErrModule, abs))
		}
		return nil, inventory.Input(fmt.Errorf("%w %s: %v", ErrModule, abs, err))
	}
	if st.IsDir() {
		return nil, inventory.Input(fmt.Errorf("%w %s: is a directory", ErrModule, abs))
	}
	ctx := pkcs11.New(abs)
	if ctx == nil {
		return nil, inventory.Input(fmt.Errorf("%w %s: cannot load it as a PKCS#11 library", ErrModule, abs))
	}
	m := &module{path: abs, ctx: ctx, refs: 1, owned: true, logins: map[uint]int{}}
	if err := ctx.Initialize(); err != nil {
		if !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
			ctx.Destroy()
			return nil, inventory.Input(fmt.Errorf("%w %s: C_Initialize: %w", ErrModule, abs, err))
		}
		m.owned = false
	}
	if info, err := ctx.GetInfo(); err == nil {
		m.info = info
	}
	modules[abs] = m
	return m, nil
}

// ref takes one more reference to m.
func (m *module) ref() *module {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	m.refs++
	return m
}

// release drops one reference; the last finalizes and unloads the module.
func (m *module) release() {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules, m.path)
	if m.owned {
		_ = m.ctx.Finalize()
	}
	m.ctx.Destroy()
}
