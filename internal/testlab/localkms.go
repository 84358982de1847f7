package testlab

import (
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	lkms "github.com/nsmithuk/local-kms/src"
	lkmsconfig "github.com/nsmithuk/local-kms/src/config"
	lkmsdata "github.com/nsmithuk/local-kms/src/data"
)

// LocalKMS is a local-kms (github.com/nsmithuk/local-kms) instance: an
// AWS KMS API emulator, served on a loopback listener.
type LocalKMS struct {
	// Endpoint is its base URL, http://127.0.0.1:PORT.
	Endpoint string
	// Region and Account are what it puts in its key ARNs.
	Region, Account string
}

// LocalKMSAccount is the account of every LocalKMS.
const LocalKMSAccount = "111122223333"

// local-kms keeps its region, account and database path in package
// variables read by every request: one value per test process.
var (
	localKMSOnce   sync.Once
	localKMSRegion string
)

// StartLocalKMS serves local-kms's own request handler on 127.0.0.1,
// doing what its main does (KMS_ACCOUNT_ID, KMS_REGION, KMS_DATA_PATH)
// with its database in a temp dir, but without its main's listener on
// every address. Every instance of a process must use the same region.
// Stopped in t.Cleanup.
func StartLocalKMS(t testing.TB, region string) *LocalKMS {
	t.Helper()
	localKMSOnce.Do(func() {
		localKMSRegion = region
		lkmsconfig.AWSRegion = region
		lkmsconfig.AWSAccountId = LocalKMSAccount
	})
	if region != localKMSRegion {
		t.Fatalf("testlab: local-kms already runs for region %s in this process, not %s", localKMSRegion, region)
	}
	dir := filepath.Join(t.TempDir(), "local-kms")
	// Only its seeding (unused here) reads DatabasePath; the handler gets
	// the database it is given.
	db := lkmsdata.NewDatabase(dir)
	ip := "127.0.0.1"
	MustLoopback(t, ip)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		db.Close()
		t.Fatalf("testlab: local-kms: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lkms.HandleRequest(w, r, db)
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("testlab: local-kms: %v", err)
		}
		db.Close()
	})
	return &LocalKMS{Endpoint: "http://" + ln.Addr().String(), Region: region, Account: LocalKMSAccount}
}
