package ctlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	ct "github.com/google/certificate-transparency-go"
	"github.com/google/certificate-transparency-go/client"
	"github.com/google/certificate-transparency-go/jsonclient"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// rfcSource reads an RFC 6962 log through certificate-transparency-go.
// Signatures are verified here, not by the library, so a bad signature
// is told apart from a failed request.
type rfcSource struct {
	log      Log
	hc       *http.Client
	ua       string
	lc       *client.LogClient
	verifier *ct.SignatureVerifier
	batch    int
}

func newRFCSource(l Log, hc *http.Client, ua string, batch int, logger *slog.Logger) (*rfcSource, error) {
	lc, err := client.New(strings.TrimRight(l.URL, "/"), hc, jsonclient.Options{UserAgent: ua, Logger: slogPrintf{logger}})
	if err != nil {
		return nil, fmt.Errorf("ctlog: %s: %w", l.URL, err)
	}
	v, err := ct.NewSignatureVerifier(l.Key)
	if err != nil {
		return nil, fmt.Errorf("ctlog: %s: key: %w", l.URL, err)
	}
	return &rfcSource{log: l, hc: hc, ua: ua, lc: lc, verifier: v, batch: batch}, nil
}

type slogPrintf struct{ l *slog.Logger }

func (s slogPrintf) Printf(format string, args ...any) { s.l.Debug(fmt.Sprintf(format, args...)) }

func (s *rfcSource) misbehaviour(kind MisbehaviourKind, detail string, err error) *MisbehaviourError {
	return &MisbehaviourError{LogURL: s.log.URL, LogID: s.log.ID, Kind: kind, Detail: detail, Index: -1, Err: err}
}

// fetchErr turns a jsonclient error into a FetchError.
func (s *rfcSource) fetchErr(path string, err error) error {
	var rsp jsonclient.RspError
	if errors.As(err, &rsp) {
		e := &FetchError{URL: s.log.baseURL() + strings.TrimPrefix(path, "/"), Status: rsp.StatusCode, Err: rsp.Err}
		if rsp.StatusCode == http.StatusNotFound {
			e.Err = ErrNotFound
		}
		return e
	}
	return &FetchError{URL: s.log.baseURL() + strings.TrimPrefix(path, "/"), Err: err}
}

func (s *rfcSource) head(ctx context.Context) (Head, error) {
	var resp ct.GetSTHResponse
	_, body, err := s.lc.GetAndParse(ctx, ct.GetSTHPath, nil, &resp)
	if err != nil {
		var rsp jsonclient.RspError
		var syn *json.SyntaxError
		if errors.As(err, &rsp) && rsp.StatusCode == http.StatusOK && (errors.As(err, &syn) || len(body) > 0) {
			return Head{}, s.misbehaviour(Malformed, "get-sth response does not parse", fmt.Errorf("%w: %w", errNotAHead, err))
		}
		return Head{}, s.fetchErr(ct.GetSTHPath, err)
	}
	served := Head{Size: resp.TreeSize, Root: resp.SHA256RootHash, Timestamp: time.UnixMilli(int64(resp.Timestamp)).UTC(), Signed: string(body)}
	sth, err := resp.ToSignedTreeHead()
	if err != nil {
		m := s.misbehaviour(Malformed, "get-sth response is malformed", err)
		m.Served = &served
		return Head{}, m
	}
	if err := s.verifier.VerifySTHSignature(*sth); err != nil {
		m := s.misbehaviour(BadSignature, "tree head signature does not verify under the log key", err)
		m.Served = &served
		return Head{}, m
	}
	return served, nil
}

var errNoEntries = errors.New("no entries")

// entries returns entries from [start, end), at least one; logs may
// return fewer than asked. The entries hold their own bytes (decoded from
// the JSON's base64): the body it returns is free as soon as it returns.
func (s *rfcSource) entries(ctx context.Context, start, end, _ uint64, buf []byte) ([]Entry, []byte, error) {
	body, err := getInto(ctx, s.hc, s.ua, fmt.Sprintf("%sct/v1/get-entries?start=%d&end=%d", s.log.baseURL(), start, end-1), buf)
	if err != nil {
		return nil, nil, err
	}
	entries, err := decodeGetEntries(body)
	if err != nil {
		m := s.misbehaviour(Malformed, "get-entries response does not parse", err)
		m.Index = int64(start)
		return nil, body, m
	}
	if len(entries) == 0 {
		// The log signed a tree holding these entries: an empty answer
		// is a log that cannot back its own head (or a lagging replica:
		// the caller retries before calling it misbehaviour).
		m := s.misbehaviour(Malformed, fmt.Sprintf("get-entries returned nothing for [%d, %d) inside the signed tree", start, end), errNoEntries)
		m.Index = int64(start)
		return nil, body, m
	}
	n := min(uint64(len(entries)), end-start)
	out := make([]Entry, n)
	for i := range out {
		out[i].Index = start + uint64(i)
		le := &entries[i]
		if err := parseMerkleTreeLeaf(le.LeafInput, le.ExtraData, &out[i]); err != nil {
			if out[i].LeafHash == ([32]byte{}) {
				out[i].LeafHash = leafHash(le.LeafInput)
			}
			// A leaf the log signed but that does not parse is still
			// part of the tree: keep its hash, skip matching.
			out[i].Cert = nil
		}
	}
	return out, body, nil
}

func (s *rfcSource) consistency(ctx context.Context, size1 uint64, h Head) ([][]byte, error) {
	if size1 == 0 || size1 >= h.Size {
		return nil, nil
	}
	p, err := s.lc.GetSTHConsistency(ctx, size1, h.Size)
	if err != nil {
		return nil, s.fetchErr(ct.GetSTHConsistencyPath, err)
	}
	return p, nil
}

// frontier returns the compact range of [0, size) in tree h: the left
// siblings on the audit path of leaf size-1, then that leaf.
func (s *rfcSource) frontier(ctx context.Context, size uint64, h Head) (*compact.Range, error) {
	if size == 0 {
		return rangeFactory.NewEmptyRange(0), nil
	}
	es, _, err := s.entries(ctx, size-1, size, h.Size, nil)
	if err != nil {
		return nil, err
	}
	lh := es[0].LeafHash
	var path [][]byte
	if h.Size > 1 {
		resp, err := s.lc.GetProofByHash(ctx, lh[:], h.Size)
		if err != nil {
			return nil, s.fetchErr(ct.GetProofByHashPath, err)
		}
		if resp.LeafIndex != int64(size-1) {
			m := s.misbehaviour(Malformed, fmt.Sprintf("get-proof-by-hash for entry %d answered index %d", size-1, resp.LeafIndex), nil)
			m.Index = int64(size - 1)
			return nil, m
		}
		path = resp.AuditPath
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, size-1, h.Size, lh[:], path, h.Root); err != nil {
		m := s.misbehaviour(RootMismatch, "inclusion proof of the start entry does not verify against the signed head", err)
		m.Index = int64(size - 1)
		return nil, m
	}
	left, err := leftNodes(size-1, h.Size, path)
	if err != nil {
		return nil, err
	}
	r, err := rangeFactory.NewRange(0, size-1, left)
	if err != nil {
		return nil, err
	}
	if err := r.Append(lh[:], nil); err != nil {
		return nil, err
	}
	return r, nil
}

// leftNodes picks from an inclusion proof of leaf index the nodes left of
// it: they are the compact range of [0, index), returned left to right.
func leftNodes(index, size uint64, path [][]byte) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	ids := nodes.IDs
	if ephem, b, e := nodes.Ephem(); b < e {
		ids = append(append(append([]compact.NodeID{}, ids[:b]...), ephem), ids[e:]...)
	}
	if len(ids) != len(path) {
		return nil, fmt.Errorf("ctlog: inclusion proof has %d nodes, want %d", len(path), len(ids))
	}
	type node struct {
		begin uint64
		hash  []byte
	}
	var left []node
	for i, id := range ids {
		b, e := id.Coverage()
		if e <= index {
			left = append(left, node{b, path[i]})
		}
	}
	// Proof order is bottom-up; the compact range wants left to right.
	out := make([][]byte, 0, len(left))
	for i := len(left) - 1; i >= 0; i-- {
		out = append(out, left[i].hash)
	}
	for i := 1; i < len(left); i++ {
		if left[i].begin >= left[i-1].begin {
			return nil, errors.New("ctlog: unexpected inclusion proof order")
		}
	}
	return out, nil
}

// issuer is not served by RFC 6962 logs by hash; the chain comes with
// each entry.
func (s *rfcSource) issuer(context.Context, [32]byte) ([]byte, error) { return nil, ErrNotFound }
