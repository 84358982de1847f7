package estate

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// posix returns TesseraCT's binary, skipping (failing under CI) without it.
func posix(t *testing.T) string {
	if testing.Short() {
		t.Skip("integration: real CT log")
	}
	dir := os.Getenv("KEYAUDIT_TOOLS")
	if dir == "" {
		dir = filepath.Join(os.Getenv("HOME"), ".cache/keyaudit-tools")
	}
	bin := filepath.Join(dir, "bin", "posix")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("TesseraCT (posix) not built: .ci/ct.sh builds it")
		}
		t.Skip("no TesseraCT (posix) binary: .ci/ct.sh builds it")
	}
	return bin
}

func TestCTLogAcceptsChains(t *testing.T) {
	bin := posix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root, _ := NewRoot("r", ECDSA256)
	inter, _ := root.Intermediate("i", ECDSA256)
	for _, kt := range []KeyType{ECDSA256, RSA2048} {
		leaf, err := inter.Issue(Leaf{CN: "www.example.test", Key: kt})
		if err != nil {
			t.Fatal(err)
		}
		direct, _ := root.Issue(Leaf{CN: "direct.example.test", Key: kt})
		l, err := StartCTLog(ctx, bin, t.TempDir(), "127.0.2.63:6962", "127.0.2.63:0", PEMChain([][]byte{root.Cert.Raw}))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.AddChain(ctx, direct.Certificate); err != nil {
			t.Errorf("%s issued by the root: %v", kt, err)
		}
		if err := l.AddChain(ctx, leaf.Certificate); err != nil {
			t.Errorf("%s via an intermediate: %v", kt, err)
		}
		if err := l.WaitSize(ctx, 2); err != nil {
			t.Error(err)
		}
		l.Close()
	}
}

func TestCTLogAcceptsDemoLeaves(t *testing.T) {
	bin := posix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := StartDemo(ctx, DemoOptions{Net: "127.0.11", V6Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rogue, _ := NewRoot("Rogue Root", ECDSA256)
	roots := append(append([]byte{}, d.RootPEM...), PEMChain([][]byte{rogue.Cert.Raw})...)
	l, err := StartCTLog(ctx, bin, t.TempDir(), "127.0.2.63:6962", "127.0.2.63:0", roots)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, n := range []string{"rsa", "ecdsa", "www", "mail", "default"} {
		if err := l.AddChain(ctx, d.Leaves[n].Certificate); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}
