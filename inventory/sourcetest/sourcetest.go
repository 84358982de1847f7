// Package sourcetest is the test suite every inventory.Source backend
// passes: stable listing, unique refs, well-formed keys, emit errors and
// cancellation honoured, Close idempotent. Backends call Run from their
// own tests with a function opening a populated source.
package sourcetest

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/inventory"
)

// Options say what Run may expect of the source.
type Options struct {
	// MinKeys is how many keys the populated source lists at least.
	MinKeys int
	// Secrets (PINs, passwords, key file contents) must appear in no
	// name, key or message.
	Secrets []string
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

var errStop = errors.New("sourcetest: stop")

// Run checks the inventory.Source contract on sources open returns (each
// call a fresh source over the same objects; Run closes them).
func Run(t *testing.T, open func(t *testing.T) inventory.Source, o Options) {
	t.Helper()
	list := func(s inventory.Source, ctx context.Context) ([]inventory.Key, inventory.Result) {
		var keys []inventory.Key
		res := s.Keys(ctx, func(k inventory.Key) error { keys = append(keys, k); return nil })
		return keys, res
	}
	secret := func(where, text string) {
		t.Helper()
		for _, s := range o.Secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s carries a secret: %q", where, text)
			}
		}
	}

	t.Run("listing", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		if s.Name() == "" {
			t.Error("empty Name")
		}
		secret("Name", s.Name())
		keys, res := list(s, context.Background())
		if res.Status != inventory.StatusComplete || res.Err != nil || res.Keys != len(keys) || res.Source != s.Name() {
			t.Fatalf("result %+v for %d keys emitted, want complete", res, len(keys))
		}
		if len(keys) < o.MinKeys {
			t.Errorf("%d keys, want at least %d", len(keys), o.MinKeys)
		}
		refs := map[string]bool{}
		for _, k := range keys {
			if k.Ref == "" || refs[k.Ref] {
				t.Errorf("ref %q empty or repeated", k.Ref)
			}
			refs[k.Ref] = true
			if k.Source == "" || k.Usage == nil {
				t.Errorf("%s: source %q usage %v", k.Ref, k.Source, k.Usage)
			}
			switch k.Class {
			case inventory.ClassSecretKey:
				if k.SPKISHA256 != "" {
					t.Errorf("%s: secret key with an SPKI", k.Ref)
				}
			case inventory.ClassPrivateKey, inventory.ClassPublicKey, inventory.ClassCertificate:
			default:
				t.Errorf("%s: class %q", k.Ref, k.Class)
			}
			if k.SPKISHA256 != "" && (!hexSHA256.MatchString(k.SPKISHA256) || k.SPKISource == "") {
				t.Errorf("%s: spki %q from %q", k.Ref, k.SPKISHA256, k.SPKISource)
			}
			secret(k.Ref, strings.Join(append([]string{k.Label, k.URI, k.Ref}, k.Notes...), " "))
		}
		for _, w := range res.Warnings {
			secret("warning", w)
		}
		again, res2 := list(s, context.Background())
		if res2.Status != inventory.StatusComplete || len(again) != len(keys) {
			t.Fatalf("second listing %+v, %d keys; first %d", res2, len(again), len(keys))
		}
		for i := range keys {
			if again[i].Ref != keys[i].Ref {
				t.Errorf("second listing: key %d is %s, was %s: the order is not stable", i, again[i].Ref, keys[i].Ref)
				break
			}
		}
	})

	t.Run("emit error", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		res := s.Keys(context.Background(), func(inventory.Key) error { return errStop })
		if !errors.Is(res.Err, errStop) || res.Status != inventory.StatusFailed || res.Keys != 0 {
			t.Errorf("result %+v, want failed with the emit error", res)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, res := list(s, ctx); res.Status == inventory.StatusComplete {
			t.Errorf("cancelled context: %+v, want partial or failed", res)
		}
	})

	t.Run("close", func(t *testing.T) {
		s := open(t)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, res := list(s, context.Background()); res.Status != inventory.StatusFailed {
			t.Errorf("Keys after Close: %+v, want failed", res)
		}
	})
}
