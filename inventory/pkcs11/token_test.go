package pkcs11

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
)

// flagSpy is a spy that also changes the flags tokens report, to reach
// the PIN states SoftHSM does not produce (final try) without locking a
// token.
type flagSpy struct {
	spy
	set, clear uint
}

func (f *flagSpy) GetTokenInfo(slot uint) (pkcs11.TokenInfo, error) {
	ti, err := f.p11.GetTokenInfo(slot)
	ti.Flags = ti.Flags&^f.clear | f.set
	return ti, err
}

func openToken(t *testing.T, uri, pin string, opts TokenOptions, sp *flagSpy) (*Token, error) {
	t.Helper()
	u, err := pkcs11uri.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	if sp != nil {
		sp.t = t
		opts.wrap = func(p p11) p11 { sp.p11 = p; return sp }
	}
	tok, err := OpenToken(context.Background(), u, pin, opts)
	if err == nil {
		t.Cleanup(func() { tok.Close() })
	}
	return tok, err
}

// userState reports whether sh is in a logged-in user state.
func userState(t *testing.T, tok *Token, sh pkcs11.SessionHandle) bool {
	t.Helper()
	si, err := tok.Ctx().GetSessionInfo(sh)
	if err != nil {
		t.Fatalf("C_GetSessionInfo: %v", err)
	}
	return si.State == pkcs11.CKS_RO_USER_FUNCTIONS || si.State == pkcs11.CKS_RW_USER_FUNCTIONS
}

func TestOpenTokenPINRules(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("alpha", "1234")
	h.InitToken("beta", "1234")
	uri := uriFor(h, "alpha")

	for _, c := range []struct {
		name string
		flag uint
	}{
		{"locked", pkcs11.CKF_USER_PIN_LOCKED},
		{"final try", pkcs11.CKF_USER_PIN_FINAL_TRY},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp := &flagSpy{set: c.flag}
			_, err := openToken(t, uri, "98765432", TokenOptions{}, sp)
			if !errors.Is(err, ErrPINLocked) || !errors.Is(err, inventory.ErrInput) {
				t.Fatalf("err = %v, want ErrPINLocked", err)
			}
			if sp.logins != 0 {
				t.Errorf("C_Login called %d times, want none", sp.logins)
			}
		})
	}
	t.Run("no login required", func(t *testing.T) {
		sp := &flagSpy{clear: pkcs11.CKF_LOGIN_REQUIRED}
		tok, err := openToken(t, uri, "", TokenOptions{}, sp)
		if err != nil {
			t.Fatal(err)
		}
		if tok.LoggedIn || sp.logins != 0 {
			t.Errorf("logged in (%v, %d calls) without a PIN", tok.LoggedIn, sp.logins)
		}
		tok.Close()
		// A caller that signs needs the login all the same.
		_, err = openToken(t, uri, "", TokenOptions{Login: true}, &flagSpy{clear: pkcs11.CKF_LOGIN_REQUIRED})
		if !errors.Is(err, ErrNoPIN) {
			t.Fatalf("Login without a PIN: err = %v, want ErrNoPIN", err)
		}
	})
	t.Run("one token", func(t *testing.T) {
		_, err := openToken(t, uriFor(h, ""), tk.PIN, TokenOptions{}, nil)
		if !errors.Is(err, ErrTokenAmbiguous) || !errors.Is(err, inventory.ErrInput) {
			t.Fatalf("err = %v, want ErrTokenAmbiguous", err)
		}
		if !strings.Contains(err.Error(), `"alpha"`) || !strings.Contains(err.Error(), `"beta"`) {
			t.Errorf("error does not name the tokens: %v", err)
		}
	})
	t.Run("no module", func(t *testing.T) {
		_, err := openToken(t, "pkcs11:token=alpha", tk.PIN, TokenOptions{}, nil)
		if !errors.Is(err, ErrModule) {
			t.Fatalf("err = %v, want ErrModule", err)
		}
		tok, err := openToken(t, "pkcs11:token=alpha", tk.PIN, TokenOptions{Module: h.Module}, nil)
		if err != nil {
			t.Fatalf("opts.Module: %v", err)
		}
		tok.Close()
	})

	// Two handles on one token share one login: the first to close
	// leaves the other logged in, the last logs out. A third, opened
	// without a PIN, keeps the module loaded to see it.
	watch, err := openToken(t, uri, "", TokenOptions{}, &flagSpy{clear: pkcs11.CKF_LOGIN_REQUIRED})
	if err != nil {
		t.Fatal(err)
	}
	sp := &flagSpy{}
	a, err := openToken(t, uri, tk.PIN, TokenOptions{}, sp)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openToken(t, uri, tk.PIN, TokenOptions{}, sp)
	if err != nil {
		t.Fatal(err)
	}
	if sp.logins != 1 || !a.LoggedIn || !b.LoggedIn || watch.LoggedIn {
		t.Errorf("C_Login called %d times (want 1), logged in %v %v %v", sp.logins, a.LoggedIn, b.LoggedIn, watch.LoggedIn)
	}
	if a.Ctx() != b.Ctx() || a.Ctx() != watch.Ctx() {
		t.Errorf("handles on one module have different contexts")
	}
	if !userState(t, watch, watch.Session) {
		t.Errorf("the login is not the token's")
	}
	a.Close()
	if !userState(t, b, b.Session) {
		t.Errorf("closing one handle logged the other out")
	}
	b.Close()
	if userState(t, watch, watch.Session) {
		t.Errorf("the last handle logged in did not log out")
	}
	watch.Close()
}
