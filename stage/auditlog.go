package stage

import (
	"context"
	"fmt"
	"io"

	"github.com/keyaudit/keyaudit/store"
)

// VerifyAuditLog verifies the hash chain of st's audit log, then, when
// file is not "", the JSON lines audit file at file against it, and
// writes to w what it verified (with the last entry's hash, which can be
// kept elsewhere). A broken chain is a *store.AuditChainError naming the
// first bad entry.
func VerifyAuditLog(ctx context.Context, st store.Store, file string, w io.Writer) error {
	v := &store.AuditVerifier{Source: "store"}
	if err := store.VerifyAuditWith(ctx, st, v); err != nil {
		return err
	}
	fmt.Fprintf(w, "store: %d entries verified", v.Chained+v.Unchained)
	if v.Unchained > 0 {
		fmt.Fprintf(w, " (%d written before the chain existed, unchained)", v.Unchained)
	}
	if v.LastHash != "" {
		fmt.Fprintf(w, "; last entry #%d hash %s", v.LastID, v.LastHash)
	}
	fmt.Fprintln(w)
	if file == "" {
		return nil
	}
	n, err := store.VerifyAuditFile(ctx, file, st)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "file %s: %d entries verified, each matching the store\n", file, n)
	return nil
}
