package testlab

import (
	"path/filepath"
	"testing"

	"github.com/keyaudit/keyaudit/internal/estate"
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
const LocalKMSAccount = estate.LocalKMSAccount

// StartLocalKMS serves local-kms on 127.0.0.1 (estate.StartLocalKMS) with
// its database in a temp dir. Every instance of a process must use the
// same region. Stopped in t.Cleanup.
func StartLocalKMS(t testing.TB, region string) *LocalKMS {
	t.Helper()
	MustLoopback(t, "127.0.0.1")
	l, err := estate.StartLocalKMS(filepath.Join(t.TempDir(), "local-kms"), "127.0.0.1:0", region)
	if err != nil {
		t.Fatalf("testlab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("testlab: local-kms: %v", err)
		}
	})
	return &LocalKMS{Endpoint: l.Endpoint, Region: l.Region, Account: l.Account}
}
