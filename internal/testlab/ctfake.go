package testlab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/sunlight"
	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// FakeLog is a FAKE Certificate Transparency log: an in-memory log that
// serves both the RFC 6962 read API (under ct/v1/) and static-ct-api
// tiles (checkpoint, tile/…, issuer/…), honest by default, that a test
// can tell to LIE — swap, drop, insert or reorder entries after signing,
// sign with the wrong key, fork its history, serve broken tiles, answer
// short or fail transiently. Real logs (TesseraCT, CTFE) are what the
// monitor is tested against; this exists only to show it notices what
// real logs never do.
type FakeLog struct {
	// URL is the base URL: RFC 6962 at URL+"ct/v1/…", static-ct-api at
	// URL+"checkpoint" etc.
	URL    string
	Origin string
	Key    *ecdsa.PrivateKey
	// PublicKeyDER is the log's SubjectPublicKeyInfo.
	PublicKeyDER []byte

	srv *httptest.Server

	mu      sync.Mutex
	entries []fakeEntry
	hashes  []tlog.Hash // stored hashes of entries
	head    fakeHead    // the published head
	old     []fakeHead  // heads published before
	served  []fakeEntry // non-nil: the lying view of entries
	issuers map[[32]byte][]byte

	badSig      bool
	staleHead   int // >0: serve old[len(old)-staleHead] instead of head
	tileFault   string
	maxEntries  int
	failLeft    int
	failStatus  int
	delay       time.Duration
	gzipTiles   bool
	clock       func() time.Time
	Requests    atomic.Int64
	EntryReqs   atomic.Int64
	lastTimestp uint64
}

type fakeEntry struct {
	leaf     []byte // MerkleTreeLeaf
	tileLeaf []byte // static-ct-api TileLeaf
	extra    []byte // RFC 6962 extra_data
}

type fakeHead struct {
	size       int64
	root       tlog.Hash
	timestamp  uint64
	sth        []byte
	checkpoint []byte
}

// NewFakeLog starts a FAKE log on 127.0.0.1 with an empty published head.
func NewFakeLog(t testing.TB) *FakeLog {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	f := &FakeLog{Key: key, PublicKeyDER: der, issuers: map[[32]byte][]byte{}, clock: time.Now}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Listener.Close()
	f.srv.Listener = l
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	f.URL = f.srv.URL + "/"
	MustLoopback(t, f.srv.Listener.Addr().String())
	f.Origin = "fake.keyaudit.test/" + strings.ReplaceAll(t.Name(), "/", "_")
	f.Publish(t)
	return f
}

// PublicKeyBase64 is the key as a log list carries it.
func (f *FakeLog) PublicKeyBase64() string { return base64.StdEncoding.EncodeToString(f.PublicKeyDER) }

// Size returns the number of entries added (published or not).
func (f *FakeLog) Size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.entries)
}

func (f *FakeLog) nextTimestamp() uint64 {
	ts := uint64(f.clock().UnixMilli())
	if ts <= f.lastTimestp {
		ts = f.lastTimestp + 1
	}
	f.lastTimestp = ts
	return ts
}

// buildEntry makes the leaf, tile leaf and extra_data of a certificate
// (precert false) or precertificate at index.
func buildEntry(index int64, ts uint64, der []byte, precert bool, issuer []byte) (fakeEntry, error) {
	e := &sunlight.LogEntry{LeafIndex: index, Timestamp: int64(ts), IsPrecert: precert}
	var chain [][]byte
	if issuer != nil {
		chain = [][]byte{issuer}
		e.ChainFingerprints = [][32]byte{sha256.Sum256(issuer)}
	}
	if precert {
		c, err := ctx509.ParseCertificate(der)
		if err != nil && ctx509.IsFatal(err) {
			return fakeEntry{}, err
		}
		tbs, err := ctx509.RemoveCTPoison(c.RawTBSCertificate)
		if err != nil {
			return fakeEntry{}, err
		}
		ic, err := x509.ParseCertificate(issuer)
		if err != nil {
			return fakeEntry{}, fmt.Errorf("precert issuer: %w", err)
		}
		e.Certificate = tbs
		e.IssuerKeyHash = sha256.Sum256(ic.RawSubjectPublicKeyInfo)
		e.PreCertificate = der
	} else {
		e.Certificate = der
	}
	var b cryptobyte.Builder
	if precert {
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(der) })
	}
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, c := range chain {
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(c) })
		}
	})
	extra, err := b.Bytes()
	if err != nil {
		return fakeEntry{}, err
	}
	return fakeEntry{leaf: e.MerkleTreeLeaf(), tileLeaf: sunlight.AppendTileLeaf(nil, e), extra: extra}, nil
}

func (f *FakeLog) hashReader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(f.hashes)) {
				return nil, fmt.Errorf("fake log: no stored hash %d", x)
			}
			out[i] = f.hashes[x]
		}
		return out, nil
	})
}

// Add appends a certificate (precert false) or precertificate, issued by
// issuer (DER), unpublished until Publish. It returns the entry index.
func (f *FakeLog) Add(t testing.TB, der []byte, precert bool, issuer []byte) int64 {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	idx, err := f.addLocked(der, precert, issuer)
	if err != nil {
		t.Fatalf("fake log: add: %v", err)
	}
	return idx
}

func (f *FakeLog) addLocked(der []byte, precert bool, issuer []byte) (int64, error) {
	idx := int64(len(f.entries))
	e, err := buildEntry(idx, f.nextTimestamp(), der, precert, issuer)
	if err != nil {
		return 0, err
	}
	hs, err := tlog.StoredHashes(idx, e.leaf, f.hashReader())
	if err != nil {
		return 0, err
	}
	f.entries = append(f.entries, e)
	f.hashes = append(f.hashes, hs...)
	if issuer != nil {
		f.issuers[sha256.Sum256(issuer)] = issuer
	}
	return idx, nil
}

// AddMany appends n certificates produced by gen(i) in one lock, for
// large logs (gen returns DER, precert flag and issuer DER).
func (f *FakeLog) AddMany(t testing.TB, n int, gen func(i int) ([]byte, bool, []byte)) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < n; i++ {
		der, pre, iss := gen(i)
		if _, err := f.addLocked(der, pre, iss); err != nil {
			t.Fatalf("fake log: add: %v", err)
		}
	}
}

// Publish signs a head over every entry added so far.
func (f *FakeLog) Publish(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.publishLocked(); err != nil {
		t.Fatalf("fake log: publish: %v", err)
	}
}

func (f *FakeLog) publishLocked() error {
	n := int64(len(f.entries))
	root, err := tlog.TreeHash(n, f.hashReader())
	if err != nil {
		return err
	}
	if n == 0 {
		root = tlog.Hash(sha256.Sum256(nil))
	}
	if f.head.sth != nil {
		f.old = append(f.old, f.head)
	}
	h := fakeHead{size: n, root: root, timestamp: f.nextTimestamp()}
	if h.sth, err = f.signSTH(h); err != nil {
		return err
	}
	if h.checkpoint, err = f.signCheckpoint(h); err != nil {
		return err
	}
	f.head = h
	return nil
}

func (f *FakeLog) signingKey() *ecdsa.PrivateKey {
	if f.badSig {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		return k
	}
	return f.Key
}

func (f *FakeLog) sthSignature(h fakeHead) (cttls.DigitallySigned, error) {
	in, err := ct.SerializeSTHSignatureInput(ct.SignedTreeHead{
		Version: ct.V1, TreeSize: uint64(h.size), Timestamp: h.timestamp, SHA256RootHash: ct.SHA256Hash(h.root),
	})
	if err != nil {
		return cttls.DigitallySigned{}, err
	}
	return cttls.CreateSignature(*f.signingKey(), cttls.SHA256, in)
}

func (f *FakeLog) signSTH(h fakeHead) ([]byte, error) {
	sig, err := f.sthSignature(h)
	if err != nil {
		return nil, err
	}
	sigBytes, err := cttls.Marshal(sig)
	if err != nil {
		return nil, err
	}
	return json.Marshal(ct.GetSTHResponse{TreeSize: uint64(h.size), Timestamp: h.timestamp, SHA256RootHash: h.root[:], TreeHeadSignature: sigBytes})
}

// rfc6962NoteSigner signs checkpoints the static-ct-api way: the note
// signature is the timestamp and an RFC 6962 TreeHeadSignature.
type rfc6962NoteSigner struct {
	name string
	hash uint32
	sign func(msg []byte) ([]byte, error)
}

func (s *rfc6962NoteSigner) Name() string                    { return s.name }
func (s *rfc6962NoteSigner) KeyHash() uint32                 { return s.hash }
func (s *rfc6962NoteSigner) Sign(msg []byte) ([]byte, error) { return s.sign(msg) }

func (f *FakeLog) signCheckpoint(h fakeHead) ([]byte, error) {
	keyID := sha256.Sum256(f.PublicKeyDER)
	kh := sha256.New()
	kh.Write([]byte(f.Origin + "\n"))
	kh.Write([]byte{0x05})
	kh.Write(keyID[:])
	signer := &rfc6962NoteSigner{name: f.Origin, hash: binary.BigEndian.Uint32(kh.Sum(nil)), sign: func([]byte) ([]byte, error) {
		sig, err := f.sthSignature(h)
		if err != nil {
			return nil, err
		}
		var b cryptobyte.Builder
		b.AddUint64(h.timestamp)
		b.AddUint8(uint8(sig.Algorithm.Hash))
		b.AddUint8(uint8(sig.Algorithm.Signature))
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sig.Signature) })
		return b.Bytes()
	}}
	text := fmt.Sprintf("%s\n%d\n%s\n", f.Origin, h.size, base64.StdEncoding.EncodeToString(h.root[:]))
	return note.Sign(&note.Note{Text: text}, signer)
}

// Lies. Each applies to what is served from now on.

func (f *FakeLog) servedView() []fakeEntry {
	if f.served == nil {
		f.served = append([]fakeEntry(nil), f.entries...)
	}
	return f.served
}

// LieSwapEntries serves entries i and j in each other's place (the signed
// tree is unchanged).
func (f *FakeLog) LieSwapEntries(i, j int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.servedView()
	v[i], v[j] = v[j], v[i]
}

// LieReplaceEntry serves, at index i, a different certificate with the
// same index and timestamp: an entry changed after signing.
func (f *FakeLog) LieReplaceEntry(t testing.TB, i int, der []byte, issuer []byte) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.servedView()
	var ts uint64
	if e, _, err := sunlight.ReadTileLeaf(v[i].tileLeaf); err == nil {
		ts = uint64(e.Timestamp)
	}
	e, err := buildEntry(int64(i), ts, der, false, issuer)
	if err != nil {
		t.Fatal(err)
	}
	v[i] = e
}

// LieDropEntry stops serving entry i; later entries move up.
func (f *FakeLog) LieDropEntry(i int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.servedView()
	f.served = append(v[:i:i], v[i+1:]...)
}

// LieInsertEntry serves an extra certificate at index i; later entries
// move down.
func (f *FakeLog) LieInsertEntry(t testing.TB, i int, der []byte, issuer []byte) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.servedView()
	e, err := buildEntry(int64(i), f.nextTimestamp(), der, false, issuer)
	if err != nil {
		t.Fatal(err)
	}
	f.served = append(v[:i:i], append([]fakeEntry{e}, v[i:]...)...)
}

// LieBadSignature signs every head published from now on with a key that
// is not the log's.
func (f *FakeLog) LieBadSignature(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.badSig = on
}

// LieCorruptHeadSignature re-signs the current head with a wrong key.
func (f *FakeLog) LieCorruptHeadSignature(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	was := f.badSig
	f.badSig = true
	var err error
	if f.head.sth, err = f.signSTH(f.head); err == nil {
		f.head.checkpoint, err = f.signCheckpoint(f.head)
	}
	f.badSig = was
	if err != nil {
		t.Fatal(err)
	}
}

// LieFork rewrites history: only the first keep entries are kept, so
// entries added and published afterwards make heads inconsistent with
// those published before.
func (f *FakeLog) LieFork(keep int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = f.entries[:keep:keep]
	f.hashes = f.hashes[:tlog.StoredHashCount(int64(keep)):tlog.StoredHashCount(int64(keep))]
	f.served = nil
}

// LieServeOldHead serves the head published n publishes ago (0: current).
// Honest logs behind caches do this; it is not misbehaviour by itself.
func (f *FakeLog) LieServeOldHead(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.staleHead = n
}

// LieTiles makes data tiles "truncated" (last bytes cut), "garbage"
// (random bytes) or "" (honest).
func (f *FakeLog) LieTiles(mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tileFault = mode
}

// ShortEntries caps get-entries answers at n entries (RFC 6962 allows it).
func (f *FakeLog) ShortEntries(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxEntries = n
}

// FailNext answers the next n requests with status (429, 503 …).
func (f *FakeLog) FailNext(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failLeft, f.failStatus = n, status
}

// Delay slows every request down by d.
func (f *FakeLog) Delay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// GzipTiles serves tiles gzip-compressed with Content-Encoding: gzip.
func (f *FakeLog) GzipTiles(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gzipTiles = on
}

// HeadSize returns the published tree size.
func (f *FakeLog) HeadSize() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head.size
}

func (f *FakeLog) serve(w http.ResponseWriter, r *http.Request) {
	f.Requests.Add(1)
	f.mu.Lock()
	delay := f.delay
	if f.failLeft > 0 {
		f.failLeft--
		st := f.failStatus
		f.mu.Unlock()
		w.Header().Set("Retry-After", "0")
		http.Error(w, "fake log: induced failure", st)
		return
	}
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/")
	head := f.head
	if f.staleHead > 0 && f.staleHead <= len(f.old) {
		head = f.old[len(f.old)-f.staleHead]
	}
	view := f.entries
	if f.served != nil {
		view = f.served
	}
	switch {
	case p == "checkpoint":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(head.checkpoint)
	case strings.HasPrefix(p, "tile/"):
		// Tiles are immutable: a stale checkpoint does not hide newer ones.
		f.serveTile(w, r, p, f.head, view)
	case strings.HasPrefix(p, "issuer/"):
		b, err := hex.DecodeString(strings.TrimPrefix(p, "issuer/"))
		var fp [32]byte
		if err != nil || len(b) != 32 {
			http.NotFound(w, r)
			return
		}
		copy(fp[:], b)
		if c, ok := f.issuers[fp]; ok {
			w.Write(c)
			return
		}
		http.NotFound(w, r)
	case p == "ct/v1/get-sth":
		w.Header().Set("Content-Type", "application/json")
		w.Write(head.sth)
	case p == "ct/v1/get-entries":
		f.EntryReqs.Add(1)
		start, err1 := strconv.ParseInt(r.FormValue("start"), 10, 64)
		end, err2 := strconv.ParseInt(r.FormValue("end"), 10, 64)
		if err1 != nil || err2 != nil || start < 0 || end < start || start >= head.size {
			http.Error(w, "bad range", http.StatusBadRequest)
			return
		}
		end = min(end, head.size-1)
		if f.maxEntries > 0 {
			end = min(end, start+int64(f.maxEntries)-1)
		}
		var resp ct.GetEntriesResponse
		for i := start; i <= end && i < int64(len(view)); i++ {
			resp.Entries = append(resp.Entries, ct.LeafEntry{LeafInput: view[i].leaf, ExtraData: view[i].extra})
		}
		writeJSON(w, resp)
	case p == "ct/v1/get-sth-consistency":
		first, err1 := strconv.ParseInt(r.FormValue("first"), 10, 64)
		second, err2 := strconv.ParseInt(r.FormValue("second"), 10, 64)
		if err1 != nil || err2 != nil || first <= 0 || second > int64(len(f.entries)) || first > second {
			http.Error(w, "bad sizes", http.StatusBadRequest)
			return
		}
		pr, err := tlog.ProveTree(second, first, f.hashReader())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, ct.GetSTHConsistencyResponse{Consistency: hashesToBytes(pr)})
	case p == "ct/v1/get-proof-by-hash":
		h, err := base64.StdEncoding.DecodeString(r.FormValue("hash"))
		size, err2 := strconv.ParseInt(r.FormValue("tree_size"), 10, 64)
		if err != nil || err2 != nil || size > int64(len(f.entries)) {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		for i := int64(0); i < size; i++ {
			rh := tlog.RecordHash(f.entries[i].leaf)
			if string(rh[:]) == string(h) {
				pr, err := tlog.ProveRecord(size, i, f.hashReader())
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				writeJSON(w, ct.GetProofByHashResponse{LeafIndex: i, AuditPath: hashesToBytes(pr)})
				return
			}
		}
		http.NotFound(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *FakeLog) serveTile(w http.ResponseWriter, r *http.Request, p string, head fakeHead, view []fakeEntry) {
	t, err := sunlight.ParseTilePath(p)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	var body []byte
	if t.L == -1 {
		first := t.N * sunlight.TileWidth
		if first+int64(t.W) > head.size {
			http.NotFound(w, r)
			return
		}
		for i := first; i < first+int64(t.W) && i < int64(len(view)); i++ {
			body = append(body, view[i].tileLeaf...)
		}
		switch f.tileFault {
		case "truncated":
			body = body[:max(0, len(body)-7)]
		case "garbage":
			body = make([]byte, len(body))
			rand.Read(body)
		}
	} else {
		if (t.N<<8+int64(t.W))<<(8*t.L) > head.size {
			http.NotFound(w, r)
			return
		}
		body, err = tlog.ReadTileData(t, f.hashReader())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if f.gzipTiles {
		w.Header().Set("Content-Encoding", "gzip")
		body = gzipBytes(body)
	}
	w.Write(body)
}

func hashesToBytes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = append([]byte(nil), hs[i][:]...)
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
