package queue

import (
	"context"
	"errors"
	"testing"
)

func TestQueueWithPoolSize(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@h/db":                  "postgres://u@h/db?pool_max_conns=12",
		"postgres://u@h/db?sslmode=require":  "postgres://u@h/db?pool_max_conns=12&sslmode=require",
		"postgres://u@h/db?pool_max_conns=3": "postgres://u@h/db?pool_max_conns=3",
		"postgresql://u:p%40ss@h:5432/db":    "postgresql://u:p%40ss@h:5432/db?pool_max_conns=12",
	} {
		if got := withPoolSize(in, 12); got != want {
			t.Errorf("withPoolSize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQueueOpenNeedsPostgres(t *testing.T) {
	for _, dsn := range []string{"", "/var/lib/keyaudit/k.db", "sqlite:///k.db", "mysql://u@127.0.0.1/x"} {
		if _, _, err := Open(context.Background(), dsn, 0, nil); !errors.Is(err, ErrNotPostgres) {
			t.Errorf("Open(%q): %v, want ErrNotPostgres", dsn, err)
		}
	}
}
