package storeopen_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/internal/storeopen"
)

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "k.db")
	for _, url := range []string{path, "file://" + filepath.Join(dir, "f.db"), "sqlite://" + filepath.Join(dir, "s.db")} {
		// Read-only never creates a store.
		if _, err := storeopen.Open(ctx, url, storeopen.Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "no store at") {
			t.Errorf("%s read-only before it exists: %v", url, err)
		}
		var notice bytes.Buffer
		s, err := storeopen.Open(ctx, url, storeopen.Options{Notice: &notice})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		s.Close()
		if !strings.Contains(notice.String(), "keyaudit: creating a new store at ") {
			t.Errorf("%s: notice %q", url, notice.String())
		}
		notice.Reset()
		if s, err = storeopen.Open(ctx, url, storeopen.Options{Notice: &notice}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if notice.Len() != 0 {
			t.Errorf("%s: notice on an existing store: %q", url, notice.String())
		}
		if s, err = storeopen.Open(ctx, url, storeopen.Options{ReadOnly: true}); err != nil {
			t.Fatalf("%s read-only: %v", url, err)
		}
		s.Close()
	}
}

func TestOpenHidesPasswords(t *testing.T) {
	ctx := context.Background()
	_, err := storeopen.Open(ctx, "mysql://keyaudit:hunter2@db.example/k", storeopen.Options{})
	if err == nil || err.Error() != `store "mysql://keyaudit:***@db.example/k": unsupported scheme "mysql"` {
		t.Errorf("unsupported scheme: %v", err)
	}
	// A PostgreSQL store nobody listens for.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, scheme := range []string{"postgres", "postgresql"} {
		_, err := storeopen.Open(ctx, scheme+"://keyaudit:hunter2@"+addr+"/k?sslmode=disable&connect_timeout=2", storeopen.Options{})
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), addr) {
			t.Errorf("%s: %v", scheme, err)
		}
	}
}
