package pkcs11

import (
	"context"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/inventory"
)

var _ inventory.Destroyer = (*Source)(nil)

// Destroy destroys the objects of r (C_DestroyObject in a read-write
// session of the object's token). Each object is found again by reading
// its token as Keys does and matching its ref — token serial, class,
// CKA_ID, label and key fingerprint — so an object replaced since the
// plan (same label, another key) is not touched. An object no longer on
// its token is already gone.
func (s *Source) Destroy(ctx context.Context, r inventory.DestroyRequest) []inventory.DestroyOutcome {
	out := make([]inventory.DestroyOutcome, len(r.Objects))
	for i, k := range r.Objects {
		out[i] = inventory.DestroyOutcome{Ref: k.Ref, Outcome: inventory.DestroyFailed}
	}
	if s.closed {
		for i := range out {
			out[i].Message = "pkcs11: source closed"
		}
		return out
	}
	for _, t := range s.tokens {
		var idx []int
		for i, k := range r.Objects {
			if k.TokenSerial == t.Serial {
				idx = append(idx, i)
			}
		}
		if len(idx) > 0 {
			s.destroyOnToken(ctx, t, r.Objects, idx, out)
		}
	}
	for i, k := range r.Objects {
		if out[i].Outcome == inventory.DestroyFailed && out[i].Message == "" {
			out[i].Message = fmt.Sprintf("pkcs11: no token with serial %q is selected by %s", k.TokenSerial, s.name)
		}
	}
	return out
}

func (s *Source) destroyOnToken(ctx context.Context, t *token, objs []inventory.Key, idx []int, out []inventory.DestroyOutcome) {
	fail := func(msg string) {
		for _, i := range idx {
			out[i].Message = msg
		}
	}
	keys, handles, err := s.tokenKeys(ctx, t)
	if err != nil {
		// A partial read cannot show an object is gone: destroy nothing.
		fail(fmt.Sprintf("pkcs11: token %q: reading the token before destroying: %v", t.Label, err))
		return
	}
	s.finish(t, keys)
	byRef := make(map[string]pkcs11.ObjectHandle, len(keys))
	for i := range keys {
		byRef[keys[i].Ref] = handles[i]
	}
	sh, err := t.p.OpenSession(t.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		fail(fmt.Sprintf("pkcs11: token %q: C_OpenSession (read-write): %v", t.Label, err))
		return
	}
	defer t.p.CloseSession(sh)
	for _, i := range idx {
		k := objs[i]
		h, ok := byRef[k.Ref]
		if !ok && !t.LoggedIn && (k.Class == inventory.ClassPrivateKey || k.Class == inventory.ClassSecretKey) {
			// Private objects are invisible without a login: absent is
			// not gone.
			out[i].Message = fmt.Sprintf("token %q is not logged in, so its private objects cannot be seen: give the PIN", t.Label)
			continue
		}
		if !ok {
			out[i].Outcome, out[i].Message = inventory.DestroyAlreadyGone, fmt.Sprintf("token %q holds no %s %s any more", t.Label, k.Class, k.Ref)
			continue
		}
		if err := ctx.Err(); err != nil {
			out[i].Message = fmt.Sprintf("not destroyed: %v", err)
			continue
		}
		if err := t.p.DestroyObject(sh, h); err != nil {
			out[i].Message = fmt.Sprintf("pkcs11: token %q: C_DestroyObject %s: %v", t.Label, k.Ref, err)
			continue
		}
		s.log.Debug("pkcs11: destroyed", "token", t.Label, "ref", k.Ref)
		out[i].Outcome, out[i].Message = inventory.DestroyDestroyed, fmt.Sprintf("C_DestroyObject on token %q", t.Label)
	}
}
