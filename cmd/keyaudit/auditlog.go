package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
)

func init() {
	subcommands = append(subcommands, newAuditLogCmd)
}

func newAuditLogCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit-log",
		Short: "Check the hash-chained audit log",
	}
	var file string
	verify := &cobra.Command{
		Use:   "verify [--file F]",
		Short: "Verify the audit log's hash chain (store, and a JSON lines file)",
		Long: `Verify the store's audit log: every entry's hash must be the SHA-256 of its
canonical encoding (store.AuditHash) chained to the previous entry's hash, so an
entry altered, removed, inserted or reordered behind keyaudit's back breaks the
chain at that entry. Entries written before the chain existed are accepted only
before the first chained one.

--file F also verifies the JSON lines file written with --audit-log-file (or
revoke.audit_log_file): its own chain, and that each of its entries is the
store's entry of the same ID, hash for hash.

The last hash printed can be kept elsewhere: a later verify that prints it for
the same entry proves the log up to that entry was not rewritten.

Exit codes: 0 the chain holds; 1 it is broken (the first bad entry is named);
2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.needStore(cmd.Context(), "audit-log verify checks the store's audit log", true)
			if err != nil {
				return err
			}
			defer st.Close()
			var ce *store.AuditChainError
			if err := stage.VerifyAuditLog(cmd.Context(), st, file, a.stdout); errors.As(err, &ce) {
				return withCode(exitFindings, err)
			} else if err != nil {
				return withCode(exitError, err)
			}
			return nil
		},
	}
	verify.Flags().StringVar(&file, "file", "", "also verify this JSON lines audit file (written with --audit-log-file)")
	cmd.AddCommand(verify)
	return cmd
}
