package ctlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"filippo.io/sunlight"
)

// Fuzz tests for every parser of log data. Seeds come from testdata/ct.

func seedCerts(f *testing.F) [][]byte {
	f.Helper()
	files, _ := filepath.Glob(filepath.Join(testdata, "certs", "*.pem"))
	var out [][]byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if blk, _ := pem.Decode(b); blk != nil {
			out = append(out, blk.Bytes)
		}
	}
	if len(out) == 0 {
		f.Fatal("no seed certificates")
	}
	return out
}

// FuzzTileLeaf checks the data tile parser against sunlight's: same
// verdict, same fields, same leaf hash, and never a panic.
func FuzzTileLeaf(f *testing.F) {
	tile := readFile(f, "tile-data.bin")
	f.Add(tile)
	f.Add(tile[:len(tile)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rest := b
		h := sha256.New()
		for i := uint64(0); len(rest) > 0 && i < 300; i++ {
			se, srest, serr := sunlight.ReadTileLeaf(rest)
			var e Entry
			e.Index = i
			if serr == nil {
				e.Index = uint64(se.LeafIndex)
			}
			mrest, merr := parseTileLeaf(rest, &e, h)
			if (serr == nil) != (merr == nil) {
				// RFC 6962 certificates are <1..2^24-1>: we refuse the
				// empty ones sunlight lets through.
				if serr == nil && (len(se.Certificate) == 0 || se.IsPrecert && len(se.PreCertificate) == 0) {
					return
				}
				t.Fatalf("entry %d: sunlight err %v, ours %v", i, serr, merr)
			}
			if merr != nil {
				return
			}
			if !bytes.Equal(mrest, srest) || e.LeafHash != leafHash(se.MerkleTreeLeaf()) || e.Precert != se.IsPrecert ||
				!bytes.Equal(e.Cert, se.Certificate) || !bytes.Equal(e.PreCert, se.PreCertificate) || e.Timestamp != uint64(se.Timestamp) {
				t.Fatalf("entry %d: readings differ", i)
			}
			rest = mrest
		}
	})
}

// FuzzMerkleTreeLeaf checks the RFC 6962 leaf and extra_data parser never
// panics, keeps its slices inside the input, and hashes the leaf.
func FuzzMerkleTreeLeaf(f *testing.F) {
	for i := 0; i < 5; i++ {
		f.Add(readFile(f, "leaf-"+strconv.Itoa(i)+".bin"), readFile(f, "extra-"+strconv.Itoa(i)+".bin"))
	}
	f.Add([]byte{0, 0}, []byte{})
	f.Fuzz(func(t *testing.T, leaf, extra []byte) {
		var e Entry
		err := parseMerkleTreeLeaf(leaf, extra, &e)
		if e.LeafHash != leafHash(leaf) {
			t.Fatal("leaf hash is not over the whole leaf")
		}
		if err != nil {
			return
		}
		// A bad extra_data only loses the precertificate and chain.
		if len(e.Cert) == 0 || len(e.Cert) > len(leaf) || len(e.Chain) > maxChainCerts {
			t.Fatalf("accepted a bad leaf: %+v", e)
		}
		// Whatever parses must go through matching without panicking.
		w, _ := NewWatchlist([]string{"example.com"})
		(&matcher{watch: w}).match(&e, &entryStats{})
	})
}

// FuzzCheckpoint checks checkpoint verification never panics and never
// accepts a note whose size and root are not what was signed.
func FuzzCheckpoint(f *testing.F) {
	cp := readFile(f, "checkpoint")
	f.Add(cp)
	f.Add(bytes.Replace(cp, []byte("\n5\n"), []byte("\n50\n"), 1))
	f.Add([]byte("origin\n1\nAAAA\n\n— origin AAAA\n"))
	l, err := NewLog("https://fixture.example/", filepath.Join(testdata, "log-key.pem"), Static)
	if err != nil {
		f.Fatal(err)
	}
	good, err := verifyCheckpoint(l, cp)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := verifyCheckpoint(l, b)
		if err != nil {
			if !IsMisbehaviour(err) {
				t.Fatalf("not a typed error: %v", err)
			}
			return
		}
		// Only the fixture's signature exists: anything accepted must
		// say what it signed.
		if h.Size != good.Size || !bytes.Equal(h.Root, good.Root) {
			t.Fatalf("accepted a forged checkpoint: %v", h)
		}
	})
}

// FuzzTBS checks the certificate walker (names, dedup normalisation,
// wrapping) never panics and that normalisation is stable.
func FuzzTBS(f *testing.F) {
	for _, c := range seedCerts(f) {
		f.Add(c)
		if tbs, err := certTBS(c); err == nil {
			f.Add([]byte(tbs))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tbs := b
		if t2, err := certTBS(b); err == nil {
			tbs = t2
		}
		tbsNames(tbs)
		if d, err := dedupTBS(tbs); err == nil {
			d2, err := dedupTBS(d)
			if err != nil || !bytes.Equal(d, d2) {
				t.Fatalf("dedupTBS not idempotent: %v", err)
			}
			f, _ := parseTBS(tbs)
			if got, _ := hashTBS(sha256.New(), nil, f, notCTExtension); got != sha256.Sum256(d) {
				t.Fatal("hashTBS is not the hash of dedupTBS")
			}
		}
		if w, err := wrapTBS(tbs); err == nil {
			if t3, err := certTBS(w); err != nil || !bytes.Equal(t3, tbs) {
				t.Fatal("wrapTBS does not round-trip")
			}
			lenientNames(w)
		}
		lenientNames(b)
	})
}

// FuzzWatch checks name normalisation and matching on hostile names.
func FuzzWatch(f *testing.F) {
	f.Add("www.example.com", "example.com")
	f.Add("*.xn--bcher-kva.example", ".bücher.example")
	f.Add("\x00.example.com", "*.example.com")
	f.Fuzz(func(t *testing.T, name, watch string) {
		w, err := NewWatchlist([]string{watch})
		if err != nil {
			return
		}
		n, ok := NormalizeName(name)
		if !ok {
			return
		}
		if n2, ok := NormalizeName(n); !ok || n2 != n {
			t.Fatalf("NormalizeName not idempotent: %q → %q → %q", name, n, n2)
		}
		for _, m := range w.Match(n) {
			d := m
			if d[0] == '.' {
				d = d[1:]
			}
			base := n
			if len(base) > 2 && base[:2] == "*." {
				base = base[2:]
			}
			if !(base == d || hasSuffixLabel(base, d) || hasSuffixLabel(d, base)) {
				t.Fatalf("%q matched unrelated %q", n, m)
			}
		}
	})
}

func hasSuffixLabel(s, parent string) bool {
	return len(s) > len(parent) && s[len(s)-len(parent)-1] == '.' && s[len(s)-len(parent):] == parent
}

// FuzzLogList: a log list from anywhere parses or fails cleanly, and the
// logs of one that parses are each well formed or refused.
func FuzzLogList(f *testing.F) {
	if b, err := os.ReadFile(testdata + "/log_list.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"operators":[{"name":"x","logs":[{"key":"AAAA","log_id":"AAAA","url":"https://x/","state":{"usable":{"timestamp":"2026-01-01T00:00:00Z"}}}],"tiled_logs":[null]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ll, err := ParseLogList(b)
		if err != nil {
			return
		}
		logs, err := ll.Logs(StateUsable, StateQualified, StateReadOnly, StateRetired, StateRejected, StatePending)
		if err != nil {
			return
		}
		for _, l := range logs {
			if l.ID != LogID(l.KeyDER) || l.URL == "" {
				t.Fatalf("log %+v", l)
			}
		}
		_ = ll.origins()
	})
}
