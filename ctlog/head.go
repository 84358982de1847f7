package ctlog

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Head is a signed tree head (RFC 6962 STH or static-ct-api checkpoint)
// whose signature verified.
type Head struct {
	Size      uint64    `json:"size"`
	Root      []byte    `json:"root"`
	Timestamp time.Time `json:"timestamp"`
	// Signed is the head exactly as served: the checkpoint note, or the
	// get-sth JSON. It is the evidence a misbehaviour finding carries.
	Signed string `json:"signed,omitempty"`
}

func (h Head) String() string {
	return fmt.Sprintf("size %d root %s", h.Size, hex.EncodeToString(h.Root))
}

func (h *Head) ptr() *Head {
	if h == nil {
		return nil
	}
	c := *h
	return &c
}

// State is a log's durable, verified position. Its JSON form is what a
// Sink stores.
type State struct {
	Version int    `json:"v"`
	LogID   string `json:"log_id"`
	// Size: entries [0, Size) were fetched, verified and matched (or
	// skipped on purpose by --from).
	Size uint64 `json:"size"`
	// Range is the compact Merkle range of [0, Size): the roots of its
	// perfect subtrees, left to right. Its root is consistent with Head.
	Range [][]byte `json:"range"`
	// Head is the last verified signed head; Size <= Head.Size.
	Head Head `json:"head"`
	// Dedup holds the dedup keys of the latest sightings (bounded), so a
	// certificate following its precertificate is not reported again.
	Dedup []string `json:"dedup,omitempty"`
}

const stateVersion = 1

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

func (s *State) compactRange() (*compact.Range, error) {
	return rangeFactory.NewRange(0, s.Size, cloneHashes(s.Range))
}

func cloneHashes(h [][]byte) [][]byte {
	out := make([][]byte, len(h))
	for i, b := range h {
		out[i] = bytes.Clone(b)
	}
	return out
}

// rootOf returns the Merkle root of a compact range starting at 0.
func rootOf(r *compact.Range) []byte {
	if r.End() == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic(err) // only for begin != 0, which never happens here
	}
	return root
}

// verifyConsistency checks an RFC 6962 consistency proof between (size1,
// root1) and (size2, root2).
func verifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	if size1 == size2 {
		if !bytes.Equal(root1, root2) {
			return fmt.Errorf("same size %d, different roots", size1)
		}
		return nil
	}
	if size1 == 0 {
		return nil
	}
	return proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, p, root1, root2)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
