package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// AuditFile mirrors the audit log into an append-only JSON lines file:
// one store.AuditEntry (with its prev_hash and hash) per line, in ID
// order. The file is opened with O_APPEND for every write, locked
// against other keyaudit processes, and synced after each line.
//
// When the file does not end with the entry just before the one being
// written (it was configured later, or another process wrote entries
// without it), the missing entries are copied from the store first, so
// the file always holds a contiguous chain.
type AuditFile struct {
	path string

	mu     sync.Mutex
	offset int64 // bytes of the file already scanned
	lastID int64
	last   string // hash of the last line
}

// OpenAuditFile checks that path can be opened for appending (creating it
// with mode 0600) and returns its writer.
func OpenAuditFile(path string) (*AuditFile, error) {
	if path == "" {
		return nil, errors.New("audit log file: empty path")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log file: %w", err)
	}
	f.Close()
	return &AuditFile{path: path}, nil
}

// Path is the file's path.
func (a *AuditFile) Path() string { return a.path }

// Append writes e, as returned by s.AppendAudit, to the file, after any
// entries of s the file lacks.
func (a *AuditFile) Append(ctx context.Context, s Store, e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.OpenFile(a.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit log file: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return fmt.Errorf("audit log file %s: lock: %w", a.path, err)
	}
	if err := a.scan(f); err != nil {
		return err
	}
	if e.ID <= a.lastID {
		return nil // another process copied it already
	}
	if e.PrevHash != a.last || a.lastID == 0 && e.ID > 1 {
		// Catch up from the store: entries after the file's last one.
		var missing []AuditEntry
		err := s.Audit(ctx, func(x AuditEntry) error {
			if x.ID > a.lastID && x.ID < e.ID {
				missing = append(missing, x)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("audit log file %s: catching up from the store: %w", a.path, err)
		}
		for _, x := range missing {
			if err := a.write(f, x); err != nil {
				return err
			}
		}
		if e.PrevHash != a.last {
			return fmt.Errorf("audit log file %s: entry #%d does not continue the file's chain (it ends with entry #%d): is it another store's file?", a.path, e.ID, a.lastID)
		}
	}
	return a.write(f, e)
}

func (a *AuditFile) write(f *os.File, e AuditEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit log file: %w", err)
	}
	b = append(b, '\n')
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("audit log file %s: %w", a.path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit log file %s: fsync: %w", a.path, err)
	}
	a.offset += int64(len(b))
	a.lastID, a.last = e.ID, e.Hash
	return nil
}

// scan reads the lines added since the last scan (by this or another
// process) to learn the file's last entry.
func (a *AuditFile) scan(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("audit log file %s: %w", a.path, err)
	}
	if st.Size() < a.offset {
		a.offset, a.lastID, a.last = 0, 0, "" // replaced: start again
	}
	if st.Size() == a.offset {
		return nil
	}
	r := bufio.NewReader(io.NewSectionReader(f, a.offset, st.Size()-a.offset))
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var e AuditEntry
			if jerr := json.Unmarshal(line, &e); jerr != nil {
				return fmt.Errorf("audit log file %s: a line after byte %d is not an audit entry: %w", a.path, a.offset, jerr)
			}
			a.offset += int64(len(line))
			a.lastID, a.last = e.ID, e.Hash
		} else if len(line) > 0 {
			return fmt.Errorf("audit log file %s: ends with an incomplete line (a write was interrupted): repair it before appending", a.path)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit log file %s: %w", a.path, err)
		}
	}
}

// WithAuditFile returns s whose AppendAudit also writes every entry to
// f; an entry that cannot be written to the file is an error of
// AppendAudit (the entry is then in the store, and the next append copies
// it to the file).
func WithAuditFile(s Store, f *AuditFile) Store { return &fileTee{Store: s, f: f} }

type fileTee struct {
	Store
	f *AuditFile
}

func (t *fileTee) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	e, err := t.Store.AppendAudit(ctx, e)
	if err != nil {
		return e, err
	}
	if err := t.f.Append(ctx, t.Store, e); err != nil {
		return e, err
	}
	return e, nil
}

// VerifyAuditFile checks the hash chain of a JSON lines audit file. When
// s is not nil, every entry of the file must also be the store's entry of
// the same ID, hash for hash, and the file must end where the store
// does (a removed last line is caught). It returns the number of entries verified;
// a broken chain or a mismatch is an *AuditChainError naming the first
// bad entry and its line.
func VerifyAuditFile(ctx context.Context, path string, s Store) (n int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	v := &AuditVerifier{Source: path}
	type pos struct {
		line int
		hash string
	}
	seen := map[int64]pos{}
	var last int64 // the file's head
	r := bufio.NewReader(f)
	for line := 1; ; line++ {
		b, rerr := r.ReadBytes('\n')
		if len(b) > 0 {
			var e AuditEntry
			if jerr := json.Unmarshal(b, &e); jerr != nil {
				return v.Chained + v.Unchained, &AuditChainError{Source: path, ID: v.LastID + 1, Line: line, Reason: "not a JSON audit entry: " + jerr.Error()}
			}
			if b[len(b)-1] != '\n' {
				return v.Chained + v.Unchained, &AuditChainError{Source: path, ID: e.ID, Line: line, Reason: "incomplete last line (interrupted write)"}
			}
			if err := v.Next(e, line); err != nil {
				return v.Chained + v.Unchained, err
			}
			if s != nil {
				seen[e.ID] = pos{line, e.Hash}
				last = max(last, e.ID)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return v.Chained + v.Unchained, rerr
		}
	}
	n = v.Chained + v.Unchained
	if s == nil {
		return n, nil
	}
	lines := n
	err = s.Audit(ctx, func(e AuditEntry) error {
		p, ok := seen[e.ID]
		if !ok {
			if e.ID > last {
				// The heads differ: entries the file should end with are
				// missing from it.
				return &AuditChainError{Source: path, ID: e.ID, Line: lines + 1, Reason: fmt.Sprintf("the store's entry #%d is not in the file, which ends at #%d: the file's last lines were removed (or the entry was written without the file)", e.ID, last)}
			}
			return nil
		}
		delete(seen, e.ID)
		if p.hash != e.Hash {
			return &AuditChainError{Source: path, ID: e.ID, Line: p.line, Reason: fmt.Sprintf("the store's entry #%d has hash %s, the file's %s: one of them was altered", e.ID, short(e.Hash), short(p.hash))}
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	var first int64
	for id := range seen {
		if first == 0 || id < first {
			first = id
		}
	}
	if first != 0 {
		return n, &AuditChainError{Source: path, ID: first, Line: seen[first].line, Reason: "the store has no entry with this ID: it was removed from the store, or the file belongs to another store"}
	}
	return n, nil
}
