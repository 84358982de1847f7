package main

import (
	"context"

	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/postgres"
)

// postgres:// and postgresql:// store URLs open the PostgreSQL store
// (pgx connection URLs: sslmode, pool_max_conns, search_path … as query
// parameters). Its errors never show the password.
func init() {
	open := func(ctx context.Context, url string) (store.Store, error) {
		return postgres.Open(ctx, url)
	}
	storeOpeners["postgres"] = open
	storeOpeners["postgresql"] = open
}
