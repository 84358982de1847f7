package testlab

import (
	"strings"
	"testing"
)

func TestPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	dsn := Postgres(t)
	if !strings.HasPrefix(dsn, "postgres://postgres@127.0.0.1:") {
		t.Fatalf("dsn %s", dsn)
	}
	db := PostgresDB(t, dsn, "keyaudit_test")
	if got := strings.TrimSpace(Psql(t, db, "select current_database()")); got != "keyaudit_test" {
		t.Fatalf("database %q", got)
	}
	tlsDSN := strings.Replace(db, "sslmode=disable", "sslmode=require", 1)
	if got := strings.TrimSpace(Psql(t, tlsDSN, "select ssl from pg_stat_ssl where pid = pg_backend_pid()")); got != "t" {
		t.Fatalf("TLS connection: %q", got)
	}
}
