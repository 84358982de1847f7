// Package storeopen opens a keyaudit store from its URL: a SQLite file
// path (optionally file:// or sqlite://), or a postgres:// or
// postgresql:// URL for the PostgreSQL store (pgx connection URLs:
// sslmode, pool_max_conns, search_path … as query parameters). It sits
// above the backends, which package store cannot import.
//
// Errors never show a password of the URL.
package storeopen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/postgres"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

// Options says how Open opens a store.
type Options struct {
	// ReadOnly opens for a command that only reads: a missing SQLite
	// store is an error (never created), and the file is opened
	// read-only.
	ReadOnly bool
	// Notice, when not nil, is told when a new SQLite store is created.
	Notice io.Writer
}

// Open opens the store at url. The store returned holds a lease on every
// run begun through it (store.Leased); opened for writing, the runs whose
// holder died are first marked abandoned.
func Open(ctx context.Context, url string, o Options) (store.Store, error) {
	s, err := openURL(ctx, url, o)
	if err != nil {
		return nil, err
	}
	if !o.ReadOnly {
		if _, err := s.AbandonStale(ctx, store.Lease()); err != nil {
			s.Close()
			return nil, err
		}
	}
	return store.Leased(s), nil
}

func openURL(ctx context.Context, url string, o Options) (store.Store, error) {
	if i := strings.Index(url, "://"); i > 0 {
		switch url[:i] {
		case "postgres", "postgresql":
			return postgres.Open(ctx, url)
		case "file", "sqlite":
			url = url[i+3:]
		default:
			return nil, fmt.Errorf("store %q: unsupported scheme %q", Redact(url), url[:i])
		}
	}
	if o.ReadOnly {
		s, err := sqlite.OpenReadOnly(ctx, url)
		if errors.Is(err, store.ErrNoStore) {
			return nil, fmt.Errorf("no store at %s (check --store or KEYAUDIT_STORE; a store is created only by a command that writes, such as keyaudit audit or scan)", url)
		}
		return s, err
	}
	if _, err := os.Stat(url); errors.Is(err, os.ErrNotExist) && o.Notice != nil {
		fmt.Fprintf(o.Notice, "keyaudit: creating a new store at %s\n", url)
	}
	return sqlite.Open(ctx, url)
}

// Redact hides a password in a store URL.
func Redact(u string) string {
	at := strings.LastIndex(u, "@")
	s := strings.Index(u, "://")
	if at < 0 || s < 0 || at < s {
		return u
	}
	cred := u[s+3 : at]
	if c := strings.Index(cred, ":"); c >= 0 {
		return u[:s+3] + cred[:c] + ":***" + u[at:]
	}
	return u
}
