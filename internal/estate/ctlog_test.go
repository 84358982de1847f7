package estate

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCTLogAcceptsDemoChains(t *testing.T) {
	bin := filepath.Join(os.Getenv("HOME"), ".cache/keyaudit-tools/bin/posix")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no TesseraCT")
	}
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
		t.Log(kt, "direct:", l.AddChain(ctx, direct.Certificate), "via intermediate:", l.AddChain(ctx, leaf.Certificate))
		l.Close()
	}
}

func TestCTLogAcceptsDemoWWW(t *testing.T) {
	bin := filepath.Join(os.Getenv("HOME"), ".cache/keyaudit-tools/bin/posix")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no TesseraCT")
	}
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
		t.Log(n, l.AddChain(ctx, d.Leaves[n].Certificate))
	}
}
