package queue

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/postgres"
)

// ErrNotPostgres is Open's error for a store URL that is not postgres://
// or postgresql://: the queue lives in the PostgreSQL database of the
// store.
var ErrNotPostgres = errors.New("queue: the job queue needs a PostgreSQL store (postgres:// or postgresql://)")

// Open opens the PostgreSQL store at dsn for the queue, installs or
// upgrades River's tables (Migrate) and returns an Enqueuer on it. With
// minConns > 0 the store's pool has at least minConns connections unless
// dsn sets pool_max_conns (a Worker needs PoolSize of its Config). The
// caller closes the store.
func Open(ctx context.Context, dsn string, minConns int, logger *slog.Logger) (*postgres.Store, *Enqueuer, error) {
	scheme, _, _ := strings.Cut(dsn, "://")
	if scheme != "postgres" && scheme != "postgresql" {
		return nil, nil, ErrNotPostgres
	}
	if minConns > 0 {
		dsn = withPoolSize(dsn, minConns)
	}
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	if err := Migrate(ctx, st.Pool(), logger); err != nil {
		st.Close()
		return nil, nil, err
	}
	enq, err := NewEnqueuer(st.Pool(), logger)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, enq, nil
}

// NewStoreWorker builds a Worker with cfg on st, a store Open returned:
// cfg's Pool is st's, its Store st with every run leased (the runs of its
// jobs renew their lease while it works). Runs whose holder died — a
// worker killed mid-job — are marked abandoned first.
func NewStoreWorker(ctx context.Context, st *postgres.Store, cfg Config) (*Worker, error) {
	if _, err := st.AbandonStale(ctx, store.Lease()); err != nil {
		return nil, err
	}
	cfg.Pool, cfg.Store = st.Pool(), store.Leased(st)
	return NewWorker(cfg)
}

// withPoolSize sets pgx's pool_max_conns to n in a postgres:// URL that
// does not set it.
func withPoolSize(raw string, n int) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // postgres.Open reports it
	}
	q := u.Query()
	if q.Has("pool_max_conns") {
		return raw
	}
	q.Set("pool_max_conns", strconv.Itoa(n))
	u.RawQuery = q.Encode()
	return u.String()
}
