package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"time"
)

// AuditHashVersion is the domain-separation tag that starts the canonical
// encoding of an audit entry (see AuditHash).
const AuditHashVersion = "keyaudit-audit-v1"

// ErrAuditChain is matched (errors.Is) by every *AuditChainError.
var ErrAuditChain = errors.New("audit log chain broken")

// AuditChainError names the first audit entry whose chain does not hold.
type AuditChainError struct {
	// Source is "store" or the path of a JSON lines file.
	Source string
	// ID is the entry's ID; Line its line in a file (0 for the store).
	ID   int64
	Line int
	// Reason says what does not hold.
	Reason string
}

func (e *AuditChainError) Error() string {
	where := fmt.Sprintf("entry #%d", e.ID)
	if e.Line > 0 {
		where = fmt.Sprintf("line %d (entry #%d)", e.Line, e.ID)
	}
	return fmt.Sprintf("audit log %s: broken at %s: %s", e.Source, where, e.Reason)
}

// Is makes errors.Is(err, ErrAuditChain) true.
func (e *AuditChainError) Is(target error) bool { return target == ErrAuditChain }

// normalizeAudit gives e the form every backend stores and reads back:
// UTC time truncated to microseconds (what PostgreSQL's timestamptz
// keeps), an empty detail as "{}".
func normalizeAudit(e AuditEntry) AuditEntry {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	if len(e.Detail) == 0 {
		e.Detail = []byte("{}")
	}
	return e
}

// AuditHash returns the hash of entry e chained to e.PrevHash: the
// lowercase hex SHA-256 of its canonical encoding, which is
//
//	field(AuditHashVersion) field(PrevHash) field(ID) field(Time)
//	field(Actor) field(Action) field(Target) field(Detail)
//
// where field(x) is the length of x in bytes as an 8-byte big-endian
// unsigned integer followed by the bytes of x, and
//
//   - PrevHash is the previous entry's Hash as lowercase hex, or the empty
//     string for the first chained entry (the genesis);
//   - ID is the entry's ID in decimal ASCII without leading zeros;
//   - Time is the entry's time in UTC, truncated to microseconds, formatted
//     with Go's time.RFC3339Nano layout (trailing zeros of the fraction
//     dropped, "Z" for UTC), e.g. "2025-01-02T03:04:05.123456Z";
//   - Actor, Action and Target are their UTF-8 bytes;
//   - Detail is the stored JSON detail byte for byte ("{}" when empty).
//
// Length prefixes make the encoding injective: no two different entries
// encode to the same bytes.
func AuditHash(e AuditEntry) string {
	e = normalizeAudit(e)
	h := sha256.New()
	for _, f := range [][]byte{
		[]byte(AuditHashVersion), []byte(e.PrevHash), []byte(strconv.FormatInt(e.ID, 10)),
		[]byte(e.Time.Format(time.RFC3339Nano)), []byte(e.Actor), []byte(e.Action), []byte(e.Target), e.Detail,
	} {
		writeField(h, f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// ChainEntry chains e, whose ID the backend has assigned, to the entry
// before it, whose hash is prevHash ("" when e is the first chained
// entry): it returns e normalized (see AuditHash) with PrevHash and Hash
// set. Backends call it inside the transaction that inserts e, holding
// the lock that serialises appenders, and store exactly what it returns.
func ChainEntry(prevHash string, e AuditEntry) (AuditEntry, error) {
	if e.ID <= 0 {
		return e, errors.New("audit: chaining an entry needs its ID")
	}
	if e.Time.IsZero() {
		return e, errors.New("audit: chaining an entry needs its time")
	}
	e = normalizeAudit(e)
	e.PrevHash = prevHash
	e.Hash = AuditHash(e)
	return e, nil
}

// AuditVerifier checks audit entries one by one, oldest first. Entries
// written before the chain existed (no PrevHash, no Hash) are accepted
// only before the first chained entry, and counted as Unchained.
type AuditVerifier struct {
	Source string // for errors: "store" or a file path

	Chained   int    // chained entries verified
	Unchained int    // leading entries older than the chain
	LastID    int64  // ID of the last entry seen
	LastHash  string // Hash of the last chained entry

	started bool
}

// Next verifies e, which follows every entry given before. line is e's
// line in a file (0 for the store). The error is an *AuditChainError.
func (v *AuditVerifier) Next(e AuditEntry, line int) error {
	bad := func(format string, args ...any) error {
		return &AuditChainError{Source: v.Source, ID: e.ID, Line: line, Reason: fmt.Sprintf(format, args...)}
	}
	if v.LastID != 0 && e.ID <= v.LastID {
		return bad("its ID does not follow entry #%d's: entries were reordered or duplicated", v.LastID)
	}
	if e.Hash == "" && e.PrevHash == "" {
		if v.started {
			return bad("it has no hash, but follows chained entry #%d: it was inserted or its hash removed", v.LastID)
		}
		v.Unchained++
		v.LastID = e.ID
		return nil
	}
	if e.PrevHash != v.LastHash {
		if v.LastHash == "" {
			return bad("its prev_hash is %s, but it is the first chained entry (prev_hash must be empty): entries before it are missing", short(e.PrevHash))
		}
		return bad("its prev_hash %s is not the hash %s of the entry before it (#%d): an entry was removed, inserted or altered", short(e.PrevHash), short(v.LastHash), v.LastID)
	}
	if want := AuditHash(e); want != e.Hash {
		return bad("its content hashes to %s, not to its recorded hash %s: it was modified", short(want), short(e.Hash))
	}
	v.started = true
	v.Chained++
	v.LastID, v.LastHash = e.ID, e.Hash
	return nil
}

func short(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// VerifyAudit checks the hash chain of s's audit log and returns how many
// entries it verified (chained ones plus the leading entries written
// before the chain existed). A broken chain is reported as an
// *AuditChainError naming the first bad entry; other errors are the
// store's.
func VerifyAudit(ctx context.Context, s Store) (n int, err error) {
	v := &AuditVerifier{Source: "store"}
	err = VerifyAuditWith(ctx, s, v)
	return v.Chained + v.Unchained, err
}

// VerifyAuditWith is VerifyAudit with the caller's verifier, for its
// counts and last hash.
func VerifyAuditWith(ctx context.Context, s Store, v *AuditVerifier) error {
	return s.Audit(ctx, func(e AuditEntry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return v.Next(e, 0)
	})
}
