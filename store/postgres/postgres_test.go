package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/storetest"
)

// server is the DSN of the PostgreSQL server the tests share (started by
// TestPostgres); each test gets a fresh database on it.
var (
	server string
	dbSeq  atomic.Int64
)

// TestPostgres starts one real PostgreSQL for the package and runs every
// test against it, each in a database of its own.
func TestPostgres(t *testing.T) {
	server = testlab.Postgres(t)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Suite", testSuite},
		{"ReopenKeepsDataAndMigratesOnce", testReopen},
		{"NewerSchemaRefused", testNewerSchema},
		{"ConcurrentFirstOpen", testConcurrentFirstOpen},
		{"AuditAppendOnly", testAuditAppendOnly},
		{"AdvanceAtomicOnDatabaseError", testAdvanceAtomic},
		{"ItemsStreamsLargeRunInPages", testItemsPages},
		{"SightingSizedItemsStayInline", testItemsInline},
		{"UpgradeKeepsRows", testUpgradeKeepsRows},
		{"OpenErrorsHidePassword", testOpenErrors},
		{"WritersInSeparateProcesses", testWriterProcesses},
	} {
		t.Run(tc.name, tc.fn)
	}
}

// freshDB returns the DSN of a new, empty database.
func freshDB(t *testing.T) string {
	t.Helper()
	return testlab.PostgresDB(t, server, fmt.Sprintf("ka_%d", dbSeq.Add(1)))
}

func openFresh(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), freshDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testSuite(t *testing.T) {
	dsns := map[store.Store]string{}
	var mu sync.Mutex
	open := func(t *testing.T, dsn string) store.Store {
		s, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		mu.Lock()
		dsns[s] = dsn
		mu.Unlock()
		return s
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, freshDB(t))
	}, storetest.Again(func(t *testing.T, s store.Store) store.Store {
		mu.Lock()
		dsn := dsns[s]
		mu.Unlock()
		return open(t, dsn) // its own connection pool, as another process has
	}), storetest.Tamper(func(t *testing.T, s store.Store, id int64, actor string) {
		// What the table's owner can do: switch the trigger off, edit,
		// switch it on.
		ctx := context.Background()
		for _, q := range []string{
			`ALTER TABLE audit DISABLE TRIGGER audit_no_update`,
			`UPDATE audit SET actor = '` + actor + `' WHERE id = ` + fmt.Sprint(id),
			`ALTER TABLE audit ENABLE TRIGGER audit_no_update`,
		} {
			if _, err := s.(*Store).pool.Exec(ctx, q); err != nil {
				t.Fatalf("tamper: %s: %v", q, err)
			}
		}
	}))
}

func testReopen(t *testing.T) {
	ctx := context.Background()
	dsn := freshDB(t)
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetRun(ctx, r.ID)
	if err != nil || got.Status != store.StatusRunning {
		t.Fatalf("after reopen: %+v, %v (an unfinished run must stay incomplete)", got, err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != Migrations() {
		t.Fatalf("schema version %d, %v; want %d", v, err, Migrations())
	}
	var rows int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+versionTable).Scan(&rows); err != nil || rows != Migrations() {
		t.Fatalf("%d version rows, %v; want %d", rows, err, Migrations())
	}
}

func testNewerSchema(t *testing.T) {
	ctx := context.Background()
	dsn := freshDB(t)
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO `+versionTable+` (version, applied) VALUES ($1, now())`, Migrations()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "newer than this keyaudit") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

// Many processes starting at once against a new database must not race
// to create the schema.
func testConcurrentFirstOpen(t *testing.T) {
	ctx := context.Background()
	dsn := freshDB(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	if _, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "a", Action: "x", Target: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM audit`, `UPDATE audit SET actor = 'mallory'`, `TRUNCATE audit`} {
		_, err := s.pool.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || !strings.Contains(pe.Message, "append-only") {
			t.Fatalf("%s: err = %v, want the append-only trigger to refuse", q, err)
		}
	}
	n := 0
	if err := s.Audit(ctx, func(e store.AuditEntry) error {
		n++
		if e.Actor != "a" {
			t.Errorf("entry changed: %+v", e)
		}
		return nil
	}); err != nil || n != 1 {
		t.Fatalf("audit has %d entries, %v", n, err)
	}
}

// Advance is all or nothing even when the failure comes from PostgreSQL
// itself (here a foreign key), not from a check before it.
func testAdvanceAtomic(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "ct"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Advance(ctx, r.ID, "ct:x", []byte("1"), store.Item{Kind: store.KindSighting, Key: "a", Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	err = s.Advance(ctx, r.ID+1000, "ct:x", []byte("2"), store.Item{Kind: store.KindSighting, Key: "b", Data: json.RawMessage(`{}`)})
	if err == nil {
		t.Fatal("Advance into a missing run succeeded")
	}
	v, _ := s.Cursor(ctx, "ct:x")
	if string(v) != "1" {
		t.Fatalf("cursor = %q after a failed Advance, want 1", v)
	}
}

func testItemsPages(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*itemsPage + 17
	batch := make([]store.Item, 0, 500)
	for i := range n {
		batch = append(batch, store.Item{Kind: store.KindObservation, Key: strconv.Itoa(i), Data: json.RawMessage(strconv.Itoa(i))})
		if len(batch) == cap(batch) || i == n-1 {
			if err := s.Put(ctx, r.ID, batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	next := 0
	if err := s.Items(ctx, r.ID, store.KindObservation, func(it store.Item) error {
		if it.Key != strconv.Itoa(next) {
			return fmt.Errorf("item %d has key %s: order lost", next, it.Key)
		}
		// A callback may write to the store while it reads.
		if next == 5 {
			if err := s.Put(ctx, r.ID, store.Item{Kind: store.KindKey, Key: "during", Data: json.RawMessage(`{}`)}); err != nil {
				return err
			}
		}
		next++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if next != n {
		t.Fatalf("read %d items, want %d", next, n)
	}
}

func testOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	port := testlab.FreePort(t, "127.0.0.1") // nothing listens there
	for _, dsn := range []string{
		fmt.Sprintf("postgres://keyaudit:s3cret-pw@127.0.0.1:%d/keyaudit?sslmode=disable&connect_timeout=2", port),
		fmt.Sprintf("host=127.0.0.1 port=%d user=keyaudit password=s3cret-pw dbname=keyaudit sslmode=disable connect_timeout=2", port),
		"postgres://keyaudit:s3cret-pw@127.0.0.1:notaport/x",
	} {
		_, err := Open(ctx, dsn)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", Redact(dsn))
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Fatalf("error shows the password: %v", err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=require": "postgres://u:xxxxx@h:5432/db?sslmode=require",
		"postgresql://u@h/db":                       "postgresql://u@h/db",
		"postgres://h/db?password=pw&user=u":        "postgres://h/db?password=xxxxx&user=u",
		"host=h password=pw user=u":                 "host=h password=xxxxx user=u",
		"host=h password='p w' user=u":              "host=h password=xxxxx user=u",
		"postgres://u:p%zz@h/db":                    "postgres://***@h/db",
		// Unparseable without '@': nothing but the scheme.
		"postgres://h:p%zz/db": "postgres://***",
		// A query that does not parse may hold a password.
		"postgres://h/db?password=p%zz":       "postgres://h/db?***",
		"postgres://h/db?password=p@s%zz":     "postgres://h/db?***",
		"postgres://u:pw@h/db?x=1&password=%": "postgres://u:xxxxx@h/db?***",
		"postgres://u:p%zz@h/db?password=x":   "postgres://***@h/db",
		// sslpassword is a secret like password.
		"postgres://h/db?sslpassword=pw&sslkey=k":       "postgres://h/db?sslkey=k&sslpassword=xxxxx",
		"postgres://u:pw@h/db?sslpassword=s&password=p": "postgres://u:xxxxx@h/db?password=xxxxx&sslpassword=xxxxx",
		"host=h sslpassword=pw sslkey=k":                "host=h sslpassword=xxxxx sslkey=k",
		"host=h sslpassword = 'p w' password=q user=u":  "host=h sslpassword = xxxxx password=xxxxx user=u",
		"host=h SSLPASSWORD=pw":                         "host=h SSLPASSWORD=xxxxx",
		// A key=value string whose values hold "://" is not a URL.
		"host=h password=se://cret user=u": "host=h password=xxxxx user=u",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// testWriterProcesses runs shard writers as real separate
// processes (this test binary, re-executed) against one database.
func testWriterProcesses(t *testing.T) {
	ctx := context.Background()
	dsn := freshDB(t)
	s, err := Open(ctx, dsn) // migrate first, like the CLI would anyway
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const procs, perProc = 4, 2000
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestWriterProcess$")
			cmd.Env = append(os.Environ(), "KEYAUDIT_PG_WRITER="+dsn, fmt.Sprintf("KEYAUDIT_PG_SHARD=%d/%d/%d", i+1, procs, perProc))
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v\n%s", i+1, errs[i], outs[i])
		}
	}
	n, err := store.GroupCount(ctx, s, "scan", "procs", store.KindObservation, store.StatusComplete)
	if err != nil || n != procs*perProc {
		t.Fatalf("group holds %d observations, %v; want %d", n, err, procs*perProc)
	}
	runs, _ := store.GroupRuns(ctx, s, "scan", "procs")
	if len(runs) != procs {
		t.Fatalf("%d runs in the group, want %d", len(runs), procs)
	}
}

// TestWriterProcess is the child of testWriterProcesses.
func TestWriterProcess(t *testing.T) {
	dsn := os.Getenv("KEYAUDIT_PG_WRITER")
	if dsn == "" {
		t.Skip("child process of TestPostgres/WritersInSeparateProcesses")
	}
	var i, n, per int
	if _, err := fmt.Sscanf(os.Getenv("KEYAUDIT_PG_SHARD"), "%d/%d/%d", &i, &n, &per); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan", Group: "procs", Meta: map[string]string{"shard": fmt.Sprintf("%d/%d", i, n)}})
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBatcher(ctx, s, r.ID, 256, 50*time.Millisecond)
	for j := range per {
		if err := b.Add(store.Item{Kind: store.KindObservation, Key: fmt.Sprintf("%d-%d", i, j), Data: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, r.ID, store.StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
}

// silentServer is a fake for hostile behaviour no real PostgreSQL server
// produces: a loopback TCP listener that accepts every connection and
// never answers. It returns its address.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestOpenSilentServer: a server that accepts and never answers fails
// Open in bounded time with an error saying so — by default (no
// connect_timeout in the URL: DefaultConnectTimeout, shortened here), and
// with the URL's connect_timeout, which overrides the default.
func TestOpenSilentServer(t *testing.T) {
	addr := silentServer(t)
	saved := defaultConnectTimeout
	t.Cleanup(func() { defaultConnectTimeout = saved })
	for _, c := range []struct {
		name     string
		def      time.Duration
		dsn      string
		min, max time.Duration
	}{
		{"default", 500 * time.Millisecond, "postgres://keyaudit:pw@" + addr + "/keyaudit", 400 * time.Millisecond, 5 * time.Second},
		{"connect_timeout in the URL", time.Hour, "postgres://keyaudit:pw@" + addr + "/keyaudit?sslmode=disable&connect_timeout=1", 900 * time.Millisecond, 5 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			defaultConnectTimeout = c.def
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				st, err := Open(context.Background(), c.dsn)
				if err == nil {
					st.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				took := time.Since(start)
				if err == nil || took < c.min || took > c.max {
					t.Fatalf("Open took %s: %v", took, err)
				}
				if !strings.Contains(err.Error(), "no answer within the connect timeout") {
					t.Errorf("error does not say what happened: %v", err)
				}
			case <-time.After(c.max + 5*time.Second):
				t.Fatal("Open still waiting on a server that never answers")
			}
		})
	}
}

// testItemsInline: an item the size of a CT sighting with its certificate
// (≈2.5 KB, DER that does not compress) is stored in the items row itself,
// not moved to the TOAST table (schema version 7), and reads back whole;
// a row larger than a page still goes there.
func testItemsInline(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "ct"})
	if err != nil {
		t.Fatal(err)
	}
	items, der, data := sightingSized(t, "log", 50)
	if err := s.Put(ctx, r.ID, items...); err != nil {
		t.Fatal(err)
	}
	if n := toastChunks(t, s); n != 0 {
		t.Fatalf("%d TOAST chunks after writing sighting-sized items, want 0", n)
	}
	n := 0
	err = s.Items(ctx, r.ID, store.KindSighting, func(it store.Item) error {
		n++
		if !bytes.Equal(it.DER, der) || string(it.Data) != string(data) {
			return fmt.Errorf("item %s read back altered", it.Key)
		}
		return nil
	})
	if err != nil || n != len(items) {
		t.Fatalf("read %d items, %v", n, err)
	}
	big := make([]byte, 12000)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, r.ID, store.Item{Kind: store.KindSighting, Key: "log/big", Data: json.RawMessage(`{}`), DER: big}); err != nil {
		t.Fatal(err)
	}
	if toastChunks(t, s) == 0 {
		t.Fatal("a 12 KB item was kept inline: rows larger than a page must still be moved out")
	}
}

// sightingSized returns n items the size of a CT sighting with its
// certificate (≈2.5 KB that hardly compress: random DER, names of random
// hex), keyed prefix/0…, and their DER and data.
func sightingSized(t *testing.T, prefix string, n int) ([]store.Item, []byte, json.RawMessage) {
	t.Helper()
	der := make([]byte, 1500)
	label := make([]byte, 500)
	if _, err := rand.Read(der); err != nil {
		t.Fatal(err)
	}
	if _, err := rand.Read(label); err != nil {
		t.Fatal(err)
	}
	data := json.RawMessage(`{"names":["` + hex.EncodeToString(label) + `.example.test"]}`)
	var items []store.Item
	for i := range n {
		items = append(items, store.Item{Kind: store.KindSighting, Key: fmt.Sprintf("%s/%d", prefix, i), Data: data, DER: der})
	}
	return items, der, data
}

// toastChunks counts the rows of the items table's TOAST table.
func toastChunks(t *testing.T, s *Store) int {
	t.Helper()
	ctx := context.Background()
	var toast string
	if err := s.pool.QueryRow(ctx, `SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'items'::regclass`).Scan(&toast); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+toast).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// testUpgradeKeepsRows: a store written at schema version 6 (sighting-
// sized rows moved to TOAST) opens with the current keyaudit, migrates
// once, reads its old rows back whole, and stores new ones inline.
func testUpgradeKeepsRows(t *testing.T) {
	ctx := context.Background()
	dsn := freshDB(t)
	all := migrations
	migrations = all[:6]
	old, err := Open(ctx, dsn)
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	r, err := old.BeginRun(ctx, store.RunSpec{Kind: "ct"})
	if err != nil {
		t.Fatal(err)
	}
	before, der, data := sightingSized(t, "old", 40)
	if err := old.Put(ctx, r.ID, before...); err != nil {
		t.Fatal(err)
	}
	oldChunks := toastChunks(t, old)
	old.Close()
	if oldChunks == 0 {
		t.Fatal("at schema version 6, sighting-sized rows were kept inline: the test no longer shows the upgrade")
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != Migrations() {
		t.Fatalf("schema version %d, %v; want %d", v, err, Migrations())
	}
	after, _, _ := sightingSized(t, "new", 40)
	if err := s.Put(ctx, r.ID, after...); err != nil {
		t.Fatal(err)
	}
	if n := toastChunks(t, s); n != oldChunks {
		t.Fatalf("TOAST chunks %d after writing 40 rows at version 7, want the old rows' %d", n, oldChunks)
	}
	n := 0
	err = s.Items(ctx, r.ID, store.KindSighting, func(it store.Item) error {
		if n < 40 && (!bytes.Equal(it.DER, der) || string(it.Data) != string(data)) {
			return fmt.Errorf("old item %s read back altered", it.Key)
		}
		n++
		return nil
	})
	if err != nil || n != 80 {
		t.Fatalf("read %d of 80 items: %v", n, err)
	}
}
