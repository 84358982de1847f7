package ctlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"filippo.io/sunlight"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tileWidth is the static-ct-api tile width (2^8).
const tileWidth = sunlight.TileWidth

// maxCachedTiles bounds the cache of full hash tiles (8 KB each).
const maxCachedTiles = 1024

// staticSource reads a c2sp.org/static-ct-api log: checkpoint, data tiles,
// hash tiles and issuers, with sunlight's checkpoint verifier.
type staticSource struct {
	log Log
	hc  *http.Client
	ua  string

	mu      sync.Mutex
	tiles   map[tlog.Tile][]byte // full hash tiles (immutable)
	issuers map[[32]byte][]byte
}

func newStaticSource(l Log, hc *http.Client, ua string) *staticSource {
	return &staticSource{log: l, hc: hc, ua: ua, tiles: map[tlog.Tile][]byte{}, issuers: map[[32]byte][]byte{}}
}

func (s *staticSource) misbehaviour(kind MisbehaviourKind, detail string, err error) *MisbehaviourError {
	return &MisbehaviourError{LogURL: s.log.URL, LogID: s.log.ID, Kind: kind, Detail: detail, Index: -1, Err: err}
}

func (s *staticSource) get(ctx context.Context, path string) ([]byte, error) {
	return get(ctx, s.hc, s.ua, s.log.baseURL()+path)
}

// maxCheckpointBytes caps a checkpoint note.
const maxCheckpointBytes = 16 << 10

func (s *staticSource) head(ctx context.Context) (Head, error) {
	b, err := s.get(ctx, "checkpoint")
	if err != nil {
		return Head{}, err
	}
	return verifyCheckpoint(s.log, b)
}

// verifyCheckpoint verifies a static-ct-api checkpoint note against the
// log's key (RFC 6962 TreeHeadSignature note signature) and parses it.
// The origin is the one the note names; the monitor holds it against the
// configured one (Monitor.checkHead). What does not even look like a
// checkpoint (an HTML page, random bytes) wraps errNotAHead.
func verifyCheckpoint(l Log, b []byte) (Head, error) {
	mis := func(kind MisbehaviourKind, detail string, err error, served *Head) (Head, error) {
		return Head{}, &MisbehaviourError{LogURL: l.URL, LogID: l.ID, Kind: kind, Detail: detail, Index: -1, Err: err, Served: served}
	}
	notAHead := func(err error) error {
		if err == nil {
			return errNotAHead
		}
		return fmt.Errorf("%w: %w", errNotAHead, err)
	}
	if len(b) > maxCheckpointBytes {
		return mis(Malformed, "checkpoint too large", notAHead(nil), nil)
	}
	origin, _, _ := strings.Cut(string(b), "\n")
	// The unverified body, so evidence shows what was served.
	var served *Head
	if body, _, ok := strings.Cut(string(b), "\n\n"); ok {
		if cp, err := sunlight.ParseCheckpoint(body + "\n"); err == nil {
			served = &Head{Size: uint64(cp.N), Root: cp.Hash[:], Signed: string(b)}
		}
	}
	v, err := sunlight.NewRFC6962Verifier(origin, l.Key)
	if err != nil {
		if served == nil {
			err = notAHead(err)
		}
		return mis(Malformed, "checkpoint origin is not a valid note name", err, served)
	}
	n, err := note.Open(b, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return mis(BadSignature, "checkpoint signature does not verify under the log key", err, served)
		}
		if served == nil {
			err = notAHead(err)
		}
		return mis(Malformed, "checkpoint note does not parse", err, served)
	}
	cp, err := sunlight.ParseCheckpoint(n.Text)
	if err != nil {
		return mis(Malformed, "checkpoint body does not parse", err, served)
	}
	if cp.Origin != origin {
		return mis(Malformed, fmt.Sprintf("checkpoint origin %q does not match its signer %q", cp.Origin, origin), nil, served)
	}
	h := Head{Size: uint64(cp.N), Root: append([]byte(nil), cp.Hash[:]...), Signed: string(b)}
	for _, sig := range n.Sigs {
		if ts, err := sunlight.RFC6962SignatureTimestamp(sig); err == nil {
			h.Timestamp = unixMilli(ts)
			break
		}
	}
	return h, nil
}

// dataTile names the data tile holding index in a tree of size treeSize.
func dataTile(index, treeSize uint64) tlog.Tile {
	n := index / tileWidth
	w := min(uint64(tileWidth), treeSize-n*tileWidth)
	return tlog.Tile{H: sunlight.TileHeight, L: -1, N: int64(n), W: int(w)}
}

// entries returns the entries of [start, end) that lie in start's data
// tile of tree treeSize. They point into the tile, which is read into buf
// when it has the room and returned as body.
func (s *staticSource) entries(ctx context.Context, start, end, treeSize uint64, buf []byte) ([]Entry, []byte, error) {
	t := dataTile(start, treeSize)
	first := uint64(t.N) * tileWidth
	url := s.log.baseURL()
	b, err := getInto(ctx, s.hc, s.ua, url+sunlight.TilePath(t), buf)
	width := t.W
	if err != nil && errors.Is(err, ErrNotFound) && t.W < tileWidth {
		// Partial tiles may be deleted once the full tile exists.
		full := t
		full.W = tileWidth
		if fb, ferr := getInto(ctx, s.hc, s.ua, url+sunlight.TilePath(full), buf); ferr == nil {
			b, err, width = fb, nil, tileWidth
		}
	}
	if err != nil {
		return nil, nil, err
	}
	es, err := parseDataTile(b, first, width)
	if err != nil {
		m := s.misbehaviour(Malformed, fmt.Sprintf("data tile %s", sunlight.TilePath(t)), err)
		m.Index = int64(first)
		return nil, b, m
	}
	lo := start - first
	hi := min(end, first+uint64(t.W)) - first
	return es[lo:hi:hi], b, nil
}

// tileReader adapts the log's hash tiles to tlog.TileReader for one
// operation (it carries that operation's context).
type tileReader struct {
	s   *staticSource
	ctx context.Context
	err error // the last fetch error, to tell it from an authentication failure
}

func (r *tileReader) Height() int { return sunlight.TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		full := t.W == tileWidth
		if full {
			r.s.mu.Lock()
			b, ok := r.s.tiles[t]
			r.s.mu.Unlock()
			if ok {
				out[i] = b
				continue
			}
		}
		b, err := r.s.get(r.ctx, sunlight.TilePath(t))
		if err != nil && errors.Is(err, ErrNotFound) && !full {
			ft := t
			ft.W = tileWidth
			if fb, ferr := r.s.get(r.ctx, sunlight.TilePath(ft)); ferr == nil && len(fb) == tileWidth*tlog.HashSize {
				b, err = fb[:t.W*tlog.HashSize], nil
			}
		}
		if err != nil {
			r.err = err
			return nil, err
		}
		if len(b) != t.W*tlog.HashSize {
			err := fmt.Errorf("hash tile %s: %d bytes, want %d", sunlight.TilePath(t), len(b), t.W*tlog.HashSize)
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	for i, t := range tiles {
		if t.W != tileWidth {
			continue
		}
		if len(r.s.tiles) >= maxCachedTiles {
			clear(r.s.tiles)
		}
		r.s.tiles[t] = data[i]
	}
}

// hashes reads stored hashes authenticated against h. A failure that is
// not a fetch error means the tiles contradict the signed head.
func (s *staticSource) hashes(ctx context.Context, h Head, indexes []int64) ([]tlog.Hash, error) {
	tr := &tileReader{s: s, ctx: ctx}
	var root tlog.Hash
	copy(root[:], h.Root)
	hr := tlog.TileHashReader(tlog.Tree{N: int64(h.Size), Hash: root}, tr)
	hs, err := hr.ReadHashes(indexes)
	if err != nil {
		if tr.err != nil || ctx.Err() != nil {
			return nil, err
		}
		served := h
		m := s.misbehaviour(RootMismatch, "hash tiles do not match the signed checkpoint", err)
		m.Served = &served
		return nil, m
	}
	return hs, nil
}

func (s *staticSource) consistency(ctx context.Context, size1 uint64, h Head) ([][]byte, error) {
	if size1 == 0 || size1 >= h.Size {
		return nil, nil
	}
	tr := &tileReader{s: s, ctx: ctx}
	var root tlog.Hash
	copy(root[:], h.Root)
	hr := tlog.TileHashReader(tlog.Tree{N: int64(h.Size), Hash: root}, tr)
	p, err := tlog.ProveTree(int64(h.Size), int64(size1), hr)
	if err != nil {
		if tr.err != nil || ctx.Err() != nil {
			return nil, err
		}
		served := h
		m := s.misbehaviour(RootMismatch, "hash tiles do not match the signed checkpoint", err)
		m.Served = &served
		return nil, m
	}
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out, nil
}

// frontier reads the roots of the perfect subtrees covering [0, size) from
// the hash tiles of tree h.
func (s *staticSource) frontier(ctx context.Context, size uint64, h Head) (*compact.Range, error) {
	if size == 0 {
		return rangeFactory.NewEmptyRange(0), nil
	}
	var idx []int64
	var begin uint64
	for level := 63; level >= 0; level-- {
		if size&(1<<level) == 0 {
			continue
		}
		idx = append(idx, tlog.StoredHashIndex(level, int64(begin>>level)))
		begin += 1 << level
	}
	hs, err := s.hashes(ctx, h, idx)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = append([]byte(nil), hs[i][:]...)
	}
	return rangeFactory.NewRange(0, size, out)
}

// issuer fetches issuer/<sha256 hex> and checks its hash.
func (s *staticSource) issuer(ctx context.Context, fp [32]byte) ([]byte, error) {
	s.mu.Lock()
	b, ok := s.issuers[fp]
	s.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := s.get(ctx, "issuer/"+hex.EncodeToString(fp[:]))
	if err != nil {
		return nil, err
	}
	if sha256.Sum256(b) != fp {
		return nil, fmt.Errorf("ctlog: %s: issuer %x: served certificate has a different hash", s.log.URL, fp[:8])
	}
	s.mu.Lock()
	if len(s.issuers) < 4096 {
		s.issuers[fp] = b
	}
	s.mu.Unlock()
	return b, nil
}
