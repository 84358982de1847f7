package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/store/storetest"
)

func TestSuite(t *testing.T) {
	paths := map[store.Store]string{}
	open := func(t *testing.T, p string) store.Store {
		s, err := Open(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		paths[s] = p
		return s
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "k.db"))
	}, storetest.Again(func(t *testing.T, s store.Store) store.Store {
		return open(t, paths[s]) // another handle on the same file
	}), storetest.Tamper(func(t *testing.T, s store.Store, id int64, actor string) {
		// What someone with the file and sqlite3 can do: drop the
		// trigger, edit, put the trigger back.
		db := s.(*Store).db
		for _, q := range []string{
			`DROP TRIGGER audit_no_update`,
			`UPDATE audit SET actor = '` + actor + `' WHERE id = ` + strconv.FormatInt(id, 10),
			`CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("tamper: %s: %v", q, err)
			}
		}
	}))
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "sub", "k.db")
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, p) // migrations are idempotent
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetRun(ctx, r.ID)
	if err != nil || got.Status != store.StatusRunning {
		t.Fatalf("after reopen: %+v, %v (an unfinished run must stay incomplete)", got, err)
	}
}

func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "a", Action: "x", Target: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM audit`); err == nil {
		t.Fatal("audit rows could be deleted")
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE audit SET actor = 'mallory'`); err == nil {
		t.Fatal("audit rows could be updated")
	}
}

// schemaVersion returns the highest applied migration and how many were
// recorded.
func schemaVersion(t *testing.T, s *Store) (version, rows int) {
	t.Helper()
	if err := s.db.QueryRow(`SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_migrations`).Scan(&version, &rows); err != nil {
		t.Fatal(err)
	}
	return version, rows
}

func checkSchema(t *testing.T, p string) {
	t.Helper()
	s, err := Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, n := schemaVersion(t, s); v != len(migrations) || n != len(migrations) {
		t.Fatalf("schema version %d (%d rows), want %d", v, n, len(migrations))
	}
}

// Several handles creating one new store at once (a scan's shards
// starting together) all succeed and migrate it once.
func TestConcurrentFirstOpen(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "new", "k.db")
	const n = 8
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := Open(ctx, p)
			if err != nil {
				errs <- fmt.Errorf("opener %d: %w", i, err)
				return
			}
			defer s.Close()
			r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan", Group: "first"})
			if err != nil {
				errs <- fmt.Errorf("opener %d: %w", i, err)
				return
			}
			if err := s.FinishRun(ctx, r.ID, store.StatusComplete, ""); err != nil {
				errs <- fmt.Errorf("opener %d: %w", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	checkSchema(t, p)
	s, err := OpenReadOnly(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.Runs(ctx, store.RunFilter{Group: "first", Status: []store.RunStatus{store.StatusComplete}})
	if err != nil || len(runs) != n {
		t.Fatalf("%d complete runs, %v; want %d", len(runs), err, n)
	}
}

// envFirstOpen names the store a child process of
// TestConcurrentFirstOpenProcesses opens; envStart names the file whose
// appearance starts it.
const (
	envFirstOpen = "KEYAUDIT_SQLITE_FIRST_OPEN"
	envStart     = "KEYAUDIT_SQLITE_START"
)

// Separate processes creating one new store at once all succeed and
// migrate it once.
func TestConcurrentFirstOpenProcesses(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "new", "k.db")
	startFile := filepath.Join(dir, "start")
	const procs = 3
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestFirstOpenChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), envFirstOpen+"="+p, envStart+"="+startFile)
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	// Let the children start and wait at the line, then release them.
	time.Sleep(200 * time.Millisecond)
	if err := os.WriteFile(startFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range procs {
		if errs[i] != nil {
			t.Errorf("process %d: %v\n%s", i+1, errs[i], outs[i])
		}
	}
	if t.Failed() {
		return
	}
	checkSchema(t, p)
}

// TestFirstOpenChild is the child of TestConcurrentFirstOpenProcesses.
func TestFirstOpenChild(t *testing.T) {
	p := os.Getenv(envFirstOpen)
	if p == "" {
		t.Skip("child process of TestConcurrentFirstOpenProcesses")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(os.Getenv(envStart)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never started")
		}
		time.Sleep(time.Millisecond)
	}
	ctx := context.Background()
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, r.ID, store.StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
}

// OpenReadOnly never creates a store: a missing path is ErrNoStore and
// leaves no file or directory behind.
func TestOpenReadOnlyMissing(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{filepath.Join(dir, "k.db"), filepath.Join(dir, "sub", "k.db")} {
		s, err := OpenReadOnly(context.Background(), p)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, store.ErrNoStore) {
			t.Fatalf("OpenReadOnly(%s): err = %v, want ErrNoStore", p, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("OpenReadOnly of a missing store created %s", e.Name())
	}
	if _, err := OpenReadOnly(context.Background(), dir); err == nil {
		t.Fatal("OpenReadOnly of a directory succeeded")
	}
}

// readOnlyStore makes a store with one complete run in a directory of its
// own, then makes the file 0444 and the directory 0555.
func readOnlyStore(t *testing.T, parent string) (path string, runID int64) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(parent, "ro")
	p := filepath.Join(dir, "k.db")
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"})
	if err == nil {
		err = s.Put(ctx, r.ID, store.Item{Kind: store.KindObservation, Key: "a", Data: json.RawMessage(`{}`)})
	}
	if err == nil {
		err = s.FinishRun(ctx, r.ID, store.StatusComplete, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing the last connection checkpoints the WAL; what remains of
	// it goes too, as after a clean exit.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(p + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(p, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	return p, r.ID
}

// readStore opens p read-only and checks it reads run id and refuses
// writes.
func readStore(p string, id int64) error {
	ctx := context.Background()
	s, err := OpenReadOnly(ctx, p)
	if err != nil {
		return err
	}
	defer s.Close()
	runs, err := s.Runs(ctx, store.RunFilter{Kind: "scan"})
	if err != nil {
		return err
	}
	if len(runs) != 1 || runs[0].ID != id || runs[0].Status != store.StatusComplete {
		return fmt.Errorf("runs = %+v, want run %d complete", runs, id)
	}
	if n, err := s.Count(ctx, id, store.KindObservation); err != nil || n != 1 {
		return fmt.Errorf("count = %d, %v; want 1", n, err)
	}
	if err := s.Put(ctx, id, store.Item{Kind: store.KindObservation, Key: "b", Data: json.RawMessage(`{}`)}); err == nil {
		return errors.New("Put on a read-only store succeeded")
	}
	if _, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"}); err == nil {
		return errors.New("BeginRun on a read-only store succeeded")
	}
	return nil
}

// envReadOnly names the store (path:run) a child process of
// TestOpenReadOnlyFile reads as an unprivileged user.
const envReadOnly = "KEYAUDIT_SQLITE_READ_ONLY"

// A store file 0444 in a directory 0555 (a read-only mount, another
// user's store) can be read.
func TestOpenReadOnlyFile(t *testing.T) {
	if os.Geteuid() != 0 {
		p, id := readOnlyStore(t, t.TempDir())
		if f, err := os.Create(filepath.Join(filepath.Dir(p), "probe")); err == nil {
			f.Close()
			t.Fatal("a 0555 directory is writable: permissions are not enforced here")
		}
		if err := readStore(p, id); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Root ignores permissions: check that reads work and writes fail,
	// then read it again as an unprivileged user, for whom the
	// permissions hold.
	parent, err := os.MkdirTemp("", "keyaudit-sqlite-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	p, id := readOnlyStore(t, parent)
	if err := readStore(p, id); err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no unprivileged user to read the store as: %v", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	// A copy of this test binary the user can run.
	bin := filepath.Join(parent, "sqlite.test")
	if err := copyFile(os.Args[0], bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestReadOnlyChild$", "-test.count=1", "-test.v")
	cmd.Dir = parent
	cmd.Env = append(os.Environ(), envReadOnly+"="+p+":"+strconv.FormatInt(id, 10), "HOME="+parent)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("reading as %s: %v\n%s", u.Username, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestReadOnlyChild") {
		t.Fatalf("reading as %s did not run:\n%s", u.Username, out)
	}
}

// TestReadOnlyChild is the child of TestOpenReadOnlyFile.
func TestReadOnlyChild(t *testing.T) {
	v := os.Getenv(envReadOnly)
	if v == "" {
		t.Skip("child process of TestOpenReadOnlyFile")
	}
	i := strings.LastIndexByte(v, ':')
	p := v[:i]
	id, err := strconv.ParseInt(v[i+1:], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := os.Create(filepath.Join(filepath.Dir(p), "probe")); err == nil {
		f.Close()
		t.Fatal("a 0555 directory is writable: permissions are not enforced")
	}
	if err := readStore(p, id); err != nil {
		t.Fatal(err)
	}
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestUpgradeKeepsItems: a store written by a keyaudit before migration 4
// opens with the current one; its items stay readable (a sighting and a
// certificate item give their DER from their JSON, as written before the
// der column), and the indexes by SPKI and certificate hash are gone.
func TestUpgradeKeepsItems(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "old.db")
	all := migrations
	migrations = all[:3]
	s, err := Open(ctx, p)
	if err != nil {
		migrations = all
		t.Fatal(err)
	}
	run, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"})
	if err == nil {
		// As that keyaudit wrote them: its statement, its columns.
		_, err = s.db.ExecContext(ctx, `INSERT INTO items(run_id, kind, key, spki, cert, data) VALUES
			(?, 'observation', 'tls|h:443|', 's', 'c', '{"target":"h:443"}'),
			(?, 'sighting', 'L/7', 's', 'c', '{"cert_sha256":"c","der":"REVS"}'),
			(?, 'certificate', 'c', 's', 'c', '{"der":"REVS"}')`, run.ID, run.ID, run.ID)
	}
	s.Close()
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := schemaVersion(t, s); v != len(migrations) {
		t.Fatalf("upgraded to %d, want %d", v, len(migrations))
	}
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('items_spki', 'items_cert')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d dropped indexes still there (%v)", n, err)
	}
	var got []store.Item
	if err := s.Items(ctx, run.ID, store.KindObservation, func(it store.Item) error { got = append(got, it); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].SPKISHA256 != "s" || got[0].CertSHA256 != "c" {
		t.Fatalf("items after the upgrade: %+v", got)
	}
	for _, kind := range []string{store.KindSighting, store.KindCertificate} {
		n := 0
		err := s.Items(ctx, run.ID, kind, func(it store.Item) error {
			n++
			sha, der, err := records.ItemDER(it)
			if err != nil || sha != "c" || string(der) != "DER" || it.DER != nil {
				t.Errorf("%s after the upgrade: ItemDER %q %q, %v (item DER %q)", kind, sha, der, err, it.DER)
			}
			return nil
		})
		if err != nil || n != 1 {
			t.Fatalf("%s items after the upgrade: %d, %v", kind, n, err)
		}
	}
}

// TestPageSize: a new store gets 64 KiB pages; a store made with 4 or
// 16 KiB pages (by an earlier keyaudit) keeps them and stays readable and
// writable.
func TestPageSize(t *testing.T) {
	ctx := context.Background()
	pageOf := func(s *Store) int {
		t.Helper()
		var n int
		if err := s.db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	s, err := Open(ctx, filepath.Join(t.TempDir(), "new.db"))
	if err != nil {
		t.Fatal(err)
	}
	if got := pageOf(s); got != 65536 {
		t.Errorf("new store: page size %d, want 65536", got)
	}
	s.Close()

	for _, size := range []int{4096, 16384} {
		old := filepath.Join(t.TempDir(), "old.db")
		db, err := sql.Open("sqlite", "file:"+old+"?_pragma=page_size("+strconv.Itoa(size)+")")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`PRAGMA journal_mode=WAL`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		s, err = Open(ctx, old)
		if err != nil {
			t.Fatal(err)
		}
		if got := pageOf(s); got != size {
			t.Errorf("existing store: page size %d, want its own %d", got, size)
		}
		run, err := s.BeginRun(ctx, store.RunSpec{Kind: "ct"})
		if err != nil {
			t.Fatal(err)
		}
		big := json.RawMessage(`{"der":"` + strings.Repeat("A", 3000) + `"}`)
		if err := s.Advance(ctx, run.ID, "ct:x", []byte("pos"), store.Item{Kind: store.KindCertificate, Key: "k", Data: big}); err != nil {
			t.Fatal(err)
		}
		var got []store.Item
		if err := s.Items(ctx, run.ID, store.KindCertificate, func(it store.Item) error { got = append(got, it); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || string(got[0].Data) != string(big) {
			t.Fatalf("items of the %d-byte-page store: %d", size, len(got))
		}
		s.Close()
	}
}
