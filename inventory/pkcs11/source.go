package pkcs11

import (
	"context"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/store/records"
)

// findBatch is how many handles one C_FindObjects call asks for.
const findBatch = 1024

// maxObjectsPerToken caps the objects listed per token: a token claiming
// more is treated as failing rather than exhausting memory.
const maxObjectsPerToken = 1 << 20

// classesFor returns the classes to search, narrowed by the URI's type.
func classesFor(typ string) []uint {
	switch typ {
	case pkcs11uri.TypePrivate:
		return []uint{pkcs11.CKO_PRIVATE_KEY}
	case pkcs11uri.TypePublic:
		return []uint{pkcs11.CKO_PUBLIC_KEY}
	case pkcs11uri.TypeSecretKey:
		return []uint{pkcs11.CKO_SECRET_KEY}
	case pkcs11uri.TypeCert:
		return []uint{pkcs11.CKO_CERTIFICATE}
	case pkcs11uri.TypeData:
		return nil
	}
	return []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_SECRET_KEY, pkcs11.CKO_CERTIFICATE}
}

// Keys lists every selected object of every selected token. Objects of a
// token are read whole before they are emitted, because pairing needs
// all of them; a token that fails part way still emits what was read, and
// the result is partial.
func (s *Source) Keys(ctx context.Context, emit func(inventory.Key) error) inventory.Result {
	res := inventory.Result{Source: s.name}
	if s.closed {
		return res.Finish(fmt.Errorf("pkcs11: %s: source closed", s.name))
	}
	var firstErr error
	for _, t := range s.tokens {
		res.Tokens = append(res.Tokens, t.record())
		keys, _, err := s.tokenKeys(ctx, t)
		s.finish(t, keys)
		for i := range keys {
			k := &keys[i]
			if eerr := emit(*k); eerr != nil {
				return res.Finish(eerr)
			}
			res.Keys++
		}
		if err != nil {
			// Keep listing the other tokens: each one listed is real.
			res.Warnings = append(res.Warnings, err.Error())
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr != nil {
		return res.Finish(firstErr)
	}
	return res.Finish(nil)
}

// finish pairs the keys of token t and gives them their token fields,
// URIs and refs, in place.
func (s *Source) finish(t *token, keys []inventory.Key) {
	inventory.Pair(keys)
	refs := inventory.Refs{}
	for i := range keys {
		k := &keys[i]
		s.decorate(t, k)
		k.Ref = refs.Unique(inventory.MakeRef("pkcs11:"+t.Serial, k.Class, k.ID, k.Label, fingerprint(k)))
		k.Normalize()
	}
}

func fingerprint(k *inventory.Key) string {
	if k.SPKISHA256 != "" {
		return k.SPKISHA256
	}
	return k.KCV
}

// record is what an inventory read keeps of the token.
func (t *Token) record() records.Token {
	return records.Token{Label: t.Label, Serial: t.Serial, Manufacturer: t.Manufacturer, Model: t.Model,
		FirmwareVersion: fmt.Sprintf("%d.%d", t.Info.FirmwareVersion.Major, t.Info.FirmwareVersion.Minor),
		HardwareVersion: fmt.Sprintf("%d.%d", t.Info.HardwareVersion.Major, t.Info.HardwareVersion.Minor)}
}

// decorate adds the token fields and the object's URI.
func (s *Source) decorate(t *token, k *inventory.Key) {
	k.Token, k.TokenSerial = t.Label, t.Serial
	u := pkcs11uri.URI{Token: t.Label, Manufacturer: t.Manufacturer, Serial: t.Serial, Model: t.Model, Object: k.Label}
	if id, err := hex.DecodeString(k.ID); err == nil && k.ID != "" {
		u.ID, u.HasID = id, true
	}
	switch k.Class {
	case inventory.ClassPrivateKey:
		u.Type = pkcs11uri.TypePrivate
	case inventory.ClassPublicKey:
		u.Type = pkcs11uri.TypePublic
	case inventory.ClassSecretKey:
		u.Type = pkcs11uri.TypeSecretKey
	case inventory.ClassCertificate:
		u.Type = pkcs11uri.TypeCert
	}
	k.URI = u.String()
}

// maxWorkers caps the sessions read in parallel per token. Reading is
// bound by the module (SoftHSM re-checks an object's file on every call),
// so more sessions than cores do not help, and hardware tokens limit
// sessions anyway.
const maxWorkers = 4

// minPerWorker is the fewest objects worth a session of their own.
const minPerWorker = 256

// sessions returns up to n sessions on t: its own, plus extra read-only
// sessions opened now (kept until Close). They share the token's login.
func (s *Source) sessions(t *token, n int) []pkcs11.SessionHandle {
	for len(t.extra)+1 < n {
		sh, err := t.p.OpenSession(t.Slot, pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			s.log.Debug("pkcs11: extra session refused; reading with fewer", "token", t.Label, "error", err)
			break
		}
		t.extra = append(t.extra, sh)
	}
	all := append([]pkcs11.SessionHandle{t.Session}, t.extra...)
	if len(all) > n {
		all = all[:n]
	}
	return all
}

type item struct {
	class uint
	h     pkcs11.ObjectHandle
}

// tokenKeys reads the selected objects of one token: a search per class,
// then the objects' attributes, spread over a few sessions in parallel.
// It returns each key's object handle beside it. On a fatal error it
// returns the keys read so far with the error.
func (s *Source) tokenKeys(ctx context.Context, t *token) ([]inventory.Key, []pkcs11.ObjectHandle, error) {
	workers := min(runtime.GOMAXPROCS(0), maxWorkers)
	classes := classesFor(s.cfg.URI.Type)
	sess := s.sessions(t, min(workers, len(classes)))

	var (
		mu       sync.Mutex
		firstErr error
		stop     atomic.Bool
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		stop.Store(true)
	}

	// Searches: one active search per session, so class i runs on
	// session i mod len(sess).
	found := make([][]pkcs11.ObjectHandle, len(classes))
	var wg sync.WaitGroup
	for w := range sess {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ci := w; ci < len(classes); ci += len(sess) {
				hs, err := s.find(ctx, t, sess[w], classes[ci])
				found[ci] = hs
				if err != nil {
					fail(fmt.Errorf("pkcs11: token %q: listing objects: %w", t.Label, err))
					return
				}
			}
		}()
	}
	wg.Wait()

	var items []item
	for ci, hs := range found {
		for _, h := range hs {
			items = append(items, item{classes[ci], h})
		}
	}
	n := max(1, min(workers, len(items)/minPerWorker))
	sess = s.sessions(t, n)
	keys := make([]inventory.Key, len(items))
	done := make([]bool, len(items))
	chunk := (len(items) + len(sess) - 1) / max(1, len(sess))
	for w := range sess {
		lo, hi := w*chunk, min(len(items), (w+1)*chunk)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newReader(t.p, sess[w])
			for i := lo; i < hi; i++ {
				if stop.Load() {
					return
				}
				if (i-lo)%256 == 0 && ctx.Err() != nil {
					fail(ctx.Err())
					return
				}
				k, err := r.read(items[i].class, items[i].h)
				if err != nil {
					if fatal(err) {
						fail(fmt.Errorf("pkcs11: token %q: reading objects: %w", t.Label, err))
						return
					}
					k = inventory.Key{Source: "pkcs11", Class: classNames[items[i].class], KeyType: "unknown"}
					k.AddNote("attributes unreadable: %v", err)
				}
				keys[i], done[i] = k, true
			}
		}()
	}
	wg.Wait()
	out, handles := keys[:0], make([]pkcs11.ObjectHandle, 0, len(keys))
	for i := range keys {
		if done[i] {
			out = append(out, keys[i])
			handles = append(handles, items[i].h)
		}
	}
	return out, handles, firstErr
}

// find returns the handles of the token's objects of class that match the
// URI's object and id.
func (s *Source) find(ctx context.Context, t *token, sh pkcs11.SessionHandle, class uint) ([]pkcs11.ObjectHandle, error) {
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}
	if s.cfg.URI.Object != "" {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, s.cfg.URI.Object))
	}
	if s.cfg.URI.HasID {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, s.cfg.URI.ID))
	}
	if err := t.p.FindObjectsInit(sh, tmpl); err != nil {
		return nil, err
	}
	var out []pkcs11.ObjectHandle
	var ferr error
	for {
		if err := ctx.Err(); err != nil {
			ferr = err
			break
		}
		hs, _, err := t.p.FindObjects(sh, findBatch)
		if err != nil {
			ferr = err
			break
		}
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
		if len(out) > maxObjectsPerToken {
			ferr = fmt.Errorf("more than %d objects", maxObjectsPerToken)
			break
		}
	}
	if err := t.p.FindObjectsFinal(sh); err != nil && ferr == nil {
		ferr = err
	}
	return out, ferr
}
