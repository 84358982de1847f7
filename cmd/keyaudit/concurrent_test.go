package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/postgres"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

// smallFarm serves TLS on a few addresses of prefix (e.g. "127.33.0")
// and returns the config of an audit that scans them.
func smallFarm(t *testing.T, prefix, storeURL string) string {
	t.Helper()
	root, err := estate.NewRoot("concurrency test root", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	port := testlab.FreePort(t, prefix+".1")
	for i := 1; i <= 4; i++ {
		cert, err := root.Issue(estate.Leaf{CN: fmt.Sprintf("c%d.concurrent.test", i), Key: estate.ECDSA256})
		if err != nil {
			t.Fatal(err)
		}
		s, err := estate.ServeTLS(fmt.Sprintf("%s.%d:%d", prefix, i, port), &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	cfg := filepath.Join(t.TempDir(), "keyaudit.yaml")
	body := fmt.Sprintf("store: %q\nscan:\n  targets: [%s.0/29]\n  ports: \"%d\"\n  scope: [%s.0/29]\n  timeout: 3s\n", storeURL, prefix, port, prefix)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// threeAudits runs three `keyaudit audit` processes at once on one store
// and checks each exits 0 or 1 having recorded its own runs.
func threeAudits(t *testing.T, cfg string, open func() (store.Store, error)) {
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	codes := make([]int, 3)
	outs := make([]string, 3)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, bin, "--config", cfg, "audit", "--format", "jsonl")
			cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			outs[i] = string(out)
			var ee *exec.ExitError
			switch {
			case err == nil:
			case errors.As(err, &ee):
				codes[i] = ee.ExitCode()
			default:
				codes[i] = -1
			}
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 && c != 1 {
			t.Errorf("audit %d: exit %d\n%s", i, c, outs[i])
		}
	}
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	audits, err := st.Runs(ctx, store.RunFilter{Kind: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	if len(audits) != 3 {
		t.Fatalf("%d audit runs, want 3", len(audits))
	}
	seen := map[int64]int64{} // stage run → audit
	for _, a := range audits {
		if a.Status != store.StatusComplete {
			t.Errorf("audit run %d: %s (%s)", a.ID, a.Status, a.Note)
		}
		err := st.Items(ctx, a.ID, store.KindStage, func(it store.Item) error {
			var s struct {
				Name   string `json:"stage"`
				RunID  int64  `json:"run_id"`
				Status string `json:"status"`
			}
			if err := json.Unmarshal(it.Data, &s); err != nil {
				return err
			}
			if s.Status == "skipped" {
				return nil
			}
			if s.RunID == 0 {
				t.Errorf("audit %d: stage %s has no run", a.ID, s.Name)
				return nil
			}
			if other, dup := seen[s.RunID]; dup {
				t.Errorf("run %d (%s) claimed by audits %d and %d", s.RunID, s.Name, other, a.ID)
			}
			seen[s.RunID] = a.ID
			r, err := st.GetRun(ctx, s.RunID)
			if err != nil {
				return err
			}
			if r.Status != store.StatusComplete {
				t.Errorf("audit %d: stage %s run %d is %s: %s %s", a.ID, s.Name, r.ID, r.Status, r.Note, r.Meta)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 6 { // scan and reconcile of each
		t.Errorf("%d stage runs, want 6", len(seen))
	}
}

// TestConcurrentAuditsSQLite: three audits at once on one new SQLite file
// (which they also create at once).
func TestConcurrentAuditsSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: three keyaudit processes")
	}
	path := filepath.Join(t.TempDir(), "shared.db")
	cfg := smallFarm(t, "127.33.0", path)
	threeAudits(t, cfg, func() (store.Store, error) { return sqlite.Open(context.Background(), path) })
}

// TestConcurrentAuditsPostgres: three audits at once on one PostgreSQL
// store.
func TestConcurrentAuditsPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: three keyaudit processes and PostgreSQL")
	}
	dsn := testlab.PostgresDB(t, testlab.Postgres(t), "concurrent")
	cfg := smallFarm(t, "127.33.1", dsn)
	threeAudits(t, cfg, func() (store.Store, error) { return postgres.Open(context.Background(), dsn) })
}
