package ctlog

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"math"

	"golang.org/x/crypto/cryptobyte"
)

// Entry is one log entry as a log serves it, before matching.
type Entry struct {
	Index uint64
	// LeafHash is the RFC 6962 hash of the entry's MerkleTreeLeaf: what
	// the tree commits to.
	LeafHash [32]byte
	// Timestamp is the entry's timestamp, milliseconds since the epoch.
	Timestamp uint64
	Precert   bool
	// Cert is the certificate DER (x509_entry) or the precertificate's
	// TBSCertificate without poison (precert_entry). It is covered by
	// LeafHash.
	Cert          []byte
	IssuerKeyHash [32]byte
	// PreCert is the precertificate DER of a precert_entry. It is NOT
	// covered by LeafHash (RFC 6962 extra_data, static-ct-api tile
	// trailer), so nothing that matters is taken from it unchecked.
	PreCert []byte
	// Chain holds the SHA-256 fingerprints of the issuing chain, nearest
	// first (not covered by LeafHash either).
	Chain [][32]byte
}

// Size caps on untrusted log data.
const (
	maxCertBytes  = 1<<24 - 1
	maxChainCerts = 64
)

var (
	errLeaf = errors.New("ctlog: malformed MerkleTreeLeaf")
	errTile = errors.New("ctlog: malformed data tile")
)

// parseMerkleTreeLeaf parses an RFC 6962 get-entries leaf_input and its
// extra_data into e (everything but Index).
func parseMerkleTreeLeaf(leaf, extra []byte, e *Entry) error {
	e.LeafHash = leafHash(leaf)
	s := cryptobyte.String(leaf)
	var version, leafType uint8
	var entryType uint16
	var exts cryptobyte.String
	if !s.ReadUint8(&version) || version != 0 || !s.ReadUint8(&leafType) || leafType != 0 ||
		!s.ReadUint64(&e.Timestamp) || !s.ReadUint16(&entryType) || e.Timestamp > math.MaxInt64 {
		return errLeaf
	}
	switch entryType {
	case 0:
		if !s.ReadUint24LengthPrefixed((*cryptobyte.String)(&e.Cert)) {
			return errLeaf
		}
	case 1:
		e.Precert = true
		if !s.CopyBytes(e.IssuerKeyHash[:]) || !s.ReadUint24LengthPrefixed((*cryptobyte.String)(&e.Cert)) {
			return errLeaf
		}
	default:
		return fmt.Errorf("%w: unknown entry type %d", errLeaf, entryType)
	}
	if len(e.Cert) == 0 || !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return errLeaf
	}
	// extra_data is outside the signed leaf: a log that mangles it must
	// not hide the (signed) certificate from matching, so a bad one only
	// loses the precertificate and the chain.
	if err := parseExtraData(extra, e); err != nil {
		e.PreCert, e.Chain = nil, nil
	}
	return nil
}

// parseExtraData reads the chain (and, for a precert, the precertificate)
// from RFC 6962 extra_data.
func parseExtraData(extra []byte, e *Entry) error {
	s := cryptobyte.String(extra)
	if e.Precert {
		if !s.ReadUint24LengthPrefixed((*cryptobyte.String)(&e.PreCert)) || len(e.PreCert) == 0 {
			return fmt.Errorf("%w: precert extra_data", errLeaf)
		}
	}
	var chain cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&chain) || !s.Empty() {
		return fmt.Errorf("%w: extra_data chain", errLeaf)
	}
	for !chain.Empty() {
		var c cryptobyte.String
		if !chain.ReadUint24LengthPrefixed(&c) || len(c) == 0 {
			return fmt.Errorf("%w: extra_data chain", errLeaf)
		}
		if len(e.Chain) < maxChainCerts {
			e.Chain = append(e.Chain, sha256.Sum256(c))
		}
	}
	return nil
}

// leafHash is the RFC 6962 leaf hash SHA-256(0x00 || leaf).
func leafHash(leaf []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// parseTileLeaf reads one TileLeaf (c2sp.org/static-ct-api) from a data
// tile into e and returns the rest of the tile. The MerkleTreeLeaf is
// 0x00 0x00 followed by the TileLeaf's TimestampedEntry, so the leaf hash
// is computed over the tile bytes without copying them. h is a reusable
// SHA-256.
func parseTileLeaf(tile []byte, e *Entry, h hash.Hash) (rest []byte, err error) {
	return parseTileLeafInto(tile, e, h, nil)
}

// parseTileLeafInto is parseTileLeaf appending the chain fingerprints to
// *chains (when not nil), one backing array for a whole tile's entries.
func parseTileLeafInto(tile []byte, e *Entry, h hash.Hash, chains *[][32]byte) (rest []byte, err error) {
	s := cryptobyte.String(tile)
	var entryType uint16
	var exts, fps cryptobyte.String
	if !s.ReadUint64(&e.Timestamp) || !s.ReadUint16(&entryType) || e.Timestamp > math.MaxInt64 {
		return nil, errTile
	}
	switch entryType {
	case 0:
		if !s.ReadUint24LengthPrefixed((*cryptobyte.String)(&e.Cert)) {
			return nil, errTile
		}
	case 1:
		e.Precert = true
		if !s.CopyBytes(e.IssuerKeyHash[:]) || !s.ReadUint24LengthPrefixed((*cryptobyte.String)(&e.Cert)) {
			return nil, errTile
		}
	default:
		return nil, fmt.Errorf("%w: unknown entry type %d", errTile, entryType)
	}
	if len(e.Cert) == 0 || !s.ReadUint16LengthPrefixed(&exts) {
		return nil, errTile
	}
	timestamped := tile[:len(tile)-len(s)]
	// The leaf_index extension is mandatory and must be the only one.
	var extType uint8
	var extData cryptobyte.String
	var idx uint64
	if !exts.ReadUint8(&extType) || extType != 0 || !exts.ReadUint16LengthPrefixed(&extData) ||
		!readUint40(&extData, &idx) || !extData.Empty() || !exts.Empty() {
		return nil, fmt.Errorf("%w: leaf_index extension", errTile)
	}
	if e.Precert {
		if !s.ReadUint24LengthPrefixed((*cryptobyte.String)(&e.PreCert)) || len(e.PreCert) == 0 {
			return nil, errTile
		}
	}
	if !s.ReadUint16LengthPrefixed(&fps) || len(fps)%32 != 0 {
		return nil, fmt.Errorf("%w: chain fingerprints", errTile)
	}
	n := min(len(fps)/32, maxChainCerts)
	if chains != nil && cap(*chains)-len(*chains) >= n {
		start := len(*chains)
		for range n {
			var fp [32]byte
			fps.CopyBytes(fp[:])
			*chains = append(*chains, fp)
		}
		e.Chain = (*chains)[start : start+n : start+n]
	} else if n > 0 {
		e.Chain = make([][32]byte, n)
		for i := range e.Chain {
			fps.CopyBytes(e.Chain[i][:])
		}
	}
	if e.Index != idx {
		return nil, fmt.Errorf("%w: entry at position %d says leaf_index %d", errTile, e.Index, idx)
	}
	h.Reset()
	h.Write([]byte{0, 0, 0}) // leaf hash prefix, version v1, leaf_type timestamped_entry
	h.Write(timestamped)
	h.Sum(e.LeafHash[:0])
	return s, nil
}

func readUint40(s *cryptobyte.String, out *uint64) bool {
	var b []byte
	if !s.ReadBytes(&b, 5) {
		return false
	}
	*out = uint64(b[0])<<32 | uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4])
	return true
}

// parseDataTile parses a data tile expected to hold entries
// [first, first+count) into a fresh slice.
func parseDataTile(tile []byte, first uint64, count int) ([]Entry, error) {
	out := make([]Entry, count)
	h := sha256.New()
	rest := tile
	// Most entries carry an issuer and a root.
	chains := make([][32]byte, 0, 2*count)
	for i := range out {
		out[i].Index = first + uint64(i)
		var err error
		if rest, err = parseTileLeafInto(rest, &out[i], h, &chains); err != nil {
			return nil, fmt.Errorf("entry %d: %w", first+uint64(i), err)
		}
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after %d entries", errTile, len(rest), count)
	}
	return out, nil
}
