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
		Example: `  keyaudit audit-log verify
  keyaudit audit-log verify --file /var/log/keyaudit/audit.jsonl`,
	}
	var file string
	verify := &cobra.Command{
		Use:   "verify [--file F]",
		Short: "Verify the audit log's hash chain (store, and a JSON lines file)",
		Long:  help("audit-log-verify"),
		Example: `  keyaudit audit-log verify
  keyaudit audit-log verify --file /var/log/keyaudit/audit.jsonl
  keyaudit audit-log verify --store postgres://keyaudit@db/keyaudit`,
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
