package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"filippo.io/sunlight"
	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/mod/sumdb/tlog"
)

// maxGetEntries is the most entries one get-entries answer holds, as real
// RFC 6962 logs cap it.
const maxGetEntries = 256

func serveCmd(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dir := fs.String("dir", "", "a folder written by gen")
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	ready := fs.String("ready", "", "write the base URL here once listening")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if ip, perr := netip.ParseAddr(host); err != nil || perr != nil || !ip.IsLoopback() {
		return fmt.Errorf("serve: -addr %q: want a loopback address and port", *addr)
	}
	r, err := newRFCLog(*dir)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(*dir))))
	mux.Handle("/rfc/ct/v1/", http.StripPrefix("/rfc/ct/v1/", r))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String() + "/"
	fmt.Printf("static %sstatic/\nrfc6962 %srfc/\n", base, base)
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte(base+"\n"), 0o644); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// rfcLog serves the generated log's entries through the RFC 6962 read
// API (get-sth, get-entries, get-sth-consistency, get-proof-by-hash,
// get-roots), built from its data tiles on demand.
type rfcLog struct {
	dir     string
	size    int64
	sth     []byte
	hashes  []tlog.Hash        // stored hashes
	index   map[[32]byte]int64 // leaf hash → index
	issuers map[[32]byte][]byte
	roots   [][]byte
}

func newRFCLog(dir string) (*rfcLog, error) {
	b, err := os.ReadFile(filepath.Join(dir, "log.json"))
	if err != nil {
		return nil, fmt.Errorf("serve: %w (run gen first)", err)
	}
	var meta logMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("serve: log.json: %w", err)
	}
	r := &rfcLog{dir: dir, size: meta.Entries, index: make(map[[32]byte]int64, meta.Entries), issuers: map[[32]byte][]byte{}}
	for i, h := range meta.Issuers {
		der, err := os.ReadFile(filepath.Join(dir, "issuer", h))
		if err != nil {
			return nil, err
		}
		var fp [32]byte
		hex.Decode(fp[:], []byte(h))
		r.issuers[fp] = der
		if i == 0 {
			r.roots = append(r.roots, der)
		}
	}
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(r.hashes)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = r.hashes[x]
		}
		return out, nil
	})
	for n := int64(0); n*sunlight.TileWidth < r.size; n++ {
		es, err := r.tile(n)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			leaf := e.MerkleTreeLeaf()
			r.index[tlog.RecordHash(leaf)] = e.LeafIndex
			hs, err := tlog.StoredHashes(e.LeafIndex, leaf, hr)
			if err != nil {
				return nil, err
			}
			r.hashes = append(r.hashes, hs...)
		}
	}
	root, err := tlog.TreeHash(r.size, hr)
	if err != nil {
		return nil, err
	}
	kb, err := base64.StdEncoding.DecodeString(meta.PrivateKey)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("serve: log key is not ECDSA")
	}
	sig, err := sthSignature(key, uint64(r.size), uint64(meta.Timestamp), root)
	if err != nil {
		return nil, err
	}
	sigBytes, err := cttls.Marshal(sig)
	if err != nil {
		return nil, err
	}
	r.sth, err = json.Marshal(ct.GetSTHResponse{TreeSize: uint64(r.size), Timestamp: uint64(meta.Timestamp), SHA256RootHash: root[:], TreeHeadSignature: sigBytes})
	return r, err
}

// tile reads and parses data tile n.
func (r *rfcLog) tile(n int64) ([]*sunlight.LogEntry, error) {
	w := min(sunlight.TileWidth, r.size-n*sunlight.TileWidth)
	b, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(sunlight.TilePath(tlog.Tile{H: sunlight.TileHeight, L: -1, N: n, W: int(w)}))))
	if err != nil {
		return nil, err
	}
	out := make([]*sunlight.LogEntry, 0, w)
	for len(b) > 0 {
		var e *sunlight.LogEntry
		if e, b, err = sunlight.ReadTileLeaf(b); err != nil {
			return nil, fmt.Errorf("tile %d: %w", n, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// extraData is an entry's RFC 6962 extra_data: its chain (and, for a
// precertificate, the precertificate first).
func (r *rfcLog) extraData(e *sunlight.LogEntry) []byte {
	var b cryptobyte.Builder
	if e.IsPrecert {
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.PreCertificate) })
	}
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, fp := range e.ChainFingerprints {
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(r.issuers[fp]) })
		}
	})
	return b.BytesOrPanic()
}

func (r *rfcLog) hashReader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(r.hashes)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = r.hashes[x]
		}
		return out, nil
	})
}

func (r *rfcLog) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	num := func(k string) (int64, bool) {
		n, err := strconv.ParseInt(req.FormValue(k), 10, 64)
		return n, err == nil
	}
	switch req.URL.Path {
	case "get-sth":
		w.Header().Set("Content-Type", "application/json")
		w.Write(r.sth)
	case "get-roots":
		writeJSON(w, map[string][][]byte{"certificates": r.roots})
	case "get-entries":
		start, ok1 := num("start")
		end, ok2 := num("end")
		if !ok1 || !ok2 || start < 0 || end < start || start >= r.size {
			http.Error(w, "bad range", http.StatusBadRequest)
			return
		}
		end = min(end, r.size-1, start+maxGetEntries-1)
		var resp ct.GetEntriesResponse
		for n := start / sunlight.TileWidth; n <= end/sunlight.TileWidth; n++ {
			es, err := r.tile(n)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			for _, e := range es {
				if e.LeafIndex >= start && e.LeafIndex <= end {
					resp.Entries = append(resp.Entries, ct.LeafEntry{LeafInput: e.MerkleTreeLeaf(), ExtraData: r.extraData(e)})
				}
			}
		}
		writeJSON(w, resp)
	case "get-sth-consistency":
		first, ok1 := num("first")
		second, ok2 := num("second")
		if !ok1 || !ok2 || first <= 0 || first > second || second > r.size {
			http.Error(w, "bad sizes", http.StatusBadRequest)
			return
		}
		p, err := tlog.ProveTree(second, first, r.hashReader())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, ct.GetSTHConsistencyResponse{Consistency: hashBytes(p)})
	case "get-proof-by-hash":
		h, err := base64.StdEncoding.DecodeString(req.FormValue("hash"))
		size, ok := num("tree_size")
		var key [32]byte
		if err != nil || !ok || len(h) != 32 || size < 1 || size > r.size {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		copy(key[:], h)
		idx, found := r.index[key]
		if !found || idx >= size {
			http.NotFound(w, req)
			return
		}
		p, err := tlog.ProveRecord(size, idx, r.hashReader())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, ct.GetProofByHashResponse{LeafIndex: idx, AuditPath: hashBytes(p)})
	default:
		http.NotFound(w, req)
	}
}

func hashBytes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
