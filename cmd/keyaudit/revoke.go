package main

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/reconcile/revoke"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
)

func init() {
	subcommands = append(subcommands, newRevokeCmd)
}

// revokeConfig decodes the "revoke:" section strictly: a misspelt key
// (or an attempt to put the account key itself there) is an error.
func (a *app) revokeConfig() (stage.RevokeConfig, error) {
	var c stage.RevokeConfig
	if node, ok := a.config["revoke"]; ok {
		if err := config.StrictDecode(node, &c); err != nil {
			return c, withCode(exitError, fmt.Errorf("config %s: revoke: %s", a.configPath, strings.Join(strings.Fields(err.Error()), " ")))
		}
	}
	return c, nil
}

func newRevokeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Plan, approve and execute certificate revocations, with an audit trail",
		Long:  help("revoke"),
		Example: `  keyaudit revoke plan --from-findings latest --reason keyCompromise -o plan.json
  keyaudit revoke approve plan.json --approver alice@example.com --hash <sha256 printed by plan>
  keyaudit revoke execute plan.json
  keyaudit revoke apply plan.json --approve
  keyaudit revoke log`,
	}
	cmd.PersistentFlags().String("audit-log-file", "", "also append every audit entry, hash-chained, to this JSON lines file (default revoke.audit-log-file)")
	cmd.AddCommand(newRevokePlanCmd(a), newRevokeApproveCmd(a), newRevokeExecuteCmd(a, false), newRevokeExecuteCmd(a, true), newRevokeLogCmd(a))
	return cmd
}

// inRevokeStore runs fn with the store open (an error of fn exits 2);
// revocation cannot run without its audit log, mirrored to
// --audit-log-file (or revoke.audit-log-file) when one is given.
func (a *app) inRevokeStore(cmd *cobra.Command, fn func(stage.Env) error) error {
	if a.noStore {
		return withCode(exitError, errors.New("revoke records every step in the store's audit log: --no-store cannot be used"))
	}
	cfg, err := a.revokeConfig()
	if err != nil {
		return err
	}
	st, err := stage.OpenAuditLogged(cmp.Or(cmd.Flag("audit-log-file").Value.String(), cfg.AuditLogFile), func() (store.Store, error) { return a.openStore(cmd.Context()) })
	if err != nil {
		return withCode(exitError, err)
	}
	defer st.Close()
	return invalid(fn(a.stageEnv(st)))
}

func newRevokePlanCmd(a *app) *cobra.Command {
	var p stage.RevokePlanParams
	var certs []string
	var reason, output string
	cmd := &cobra.Command{
		Use:   "plan (--from-findings RUN | --cert FILE...) --reason REASON [-o plan.json]",
		Short: "Write a revocation plan from revocable findings or from certificate files",
		Example: `  keyaudit revoke plan --from-findings latest --reason keyCompromise -o plan.json
  keyaudit revoke plan --cert leaked.pem --cert leaked-2.pem --reason superseded -o plan.json`,
		Long: `Write a revocation plan and record it in the store's audit log.

--from-findings RUN (a reconcile run ID, or "latest") takes the findings policy
marks revocable (revoke.checks; default unauthorized-issuance and weak-key).
keyaudit stores fingerprints, not certificates, so the certificates come from
--cert files (PEM, several per file; CA certificates in a chain file are
ignored): each is matched to its findings by SHA-256, or by key for a finding
about a precertificate. Revocable findings whose certificate is not supplied
are listed as skipped. Without --from-findings, the --cert certificates are
planned on the operator's word.

--reason is an RFC 5280 §5.3.1 reason the CA/B Forum Baseline Requirements
allow for subscriber certificates: ` + revoke.ReasonNames() + `.

The plan goes to -o (default stdout); its summary and hash, which the
approver must quote, go to stderr (stdout with -o).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.revokeConfig()
			if err != nil {
				return err
			}
			if p.Options.Reason, err = revoke.ParseReason(reason); err != nil {
				return withCode(exitError, fmt.Errorf("--reason: %w", err))
			}
			p.Options = cfg.Plan(p.Options)
			if p.Certs, err = stage.ReadCertificates(stage.Env{Stderr: a.stderr}, certs); err == nil {
				err = p.Validate()
			}
			if err != nil {
				return withCode(exitError, err)
			}
			return a.inRevokeStore(cmd, func(env stage.Env) error {
				plan, err := stage.RevokePlan(cmd.Context(), env, p)
				if err != nil {
					return err
				}
				return stage.SaveRevokePlan(plan, output, a.stdout, a.stderr)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.FromFindings, "from-findings", "", `plan from the revocable findings of this reconcile run (an ID, or "latest")`)
	f.StringArrayVar(&certs, "cert", nil, "certificate file (PEM or DER; repeatable)")
	f.StringVar(&reason, "reason", "", "revocation reason: "+revoke.ReasonNames())
	f.StringVar(&p.Options.Executor, "executor", "", "who revokes: acme or hook (default revoke.executor, else acme)")
	f.StringVar(&p.Options.Auth, "auth", "", "ACME authorisation: account-key or certificate-key (default revoke.auth, else account-key)")
	f.StringVar(&p.Options.Directory, "acme-directory", "", "fix the ACME directory URL in the plan (execution then refuses any other)")
	f.StringVar(&p.Options.Note, "note", "", "free-text note for the approver (ticket, context)")
	f.StringVar(&p.Options.CreatedBy, "actor", "", "who creates the plan (default the OS user)")
	f.StringVarP(&output, "output", "o", "-", "plan file to write (- for stdout)")
	f.StringArrayVar(&p.Options.Checks, "check", nil, "revocable check (repeatable; default revoke.checks, else unauthorized-issuance and weak-key)")
	return cmd
}

func newRevokeApproveCmd(a *app) *cobra.Command {
	var p stage.RevokeApproveParams
	cmd := &cobra.Command{
		Use:   "approve PLAN --approver NAME --hash SHA256",
		Short: "Approve a revocation plan: the approver's identity bound to the plan's exact hash",
		Long:  help("revoke-approve"),
		Example: `  keyaudit revoke approve plan.json --approver alice@example.com --hash 3f1c…e9a2
  keyaudit revoke approve 7b2d90c1 --approver bob@example.com --hash 3f1c…e9a2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Plan = args[0]
			if err := p.Validate(); err != nil {
				return withCode(exitError, err)
			}
			return a.inRevokeStore(cmd, func(env stage.Env) error {
				ap, err := stage.RevokeApprove(cmd.Context(), env, p)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "approved plan %s sha256:%s by %s at %s (audit #%d)\n", reports.Printable(ap.PlanID), reports.Printable(ap.PlanHash), reports.Printable(ap.Approver), ap.Time.UTC().Format(time.RFC3339), ap.AuditID)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&p.Approver, "approver", "", "who approves (recorded in the audit log)")
	cmd.Flags().StringVar(&p.Hash, "hash", "", "the SHA-256 of the plan that was reviewed")
	return cmd
}

// newRevokeExecuteCmd builds "revoke execute", or with apply its alias
// "revoke apply PLAN --approve" (execute --apply under the name).
func newRevokeExecuteCmd(a *app, apply bool) *cobra.Command {
	var p stage.RevokeExecuteParams
	var approve bool
	var format string
	cmd := &cobra.Command{
		Use:   "execute PLAN [--apply]",
		Short: "Carry out an approved revocation plan (a dry run unless --apply)",
		Example: `  keyaudit revoke execute plan.json
  keyaudit revoke execute plan.json --apply --acme-directory https://acme.example.com/directory --account-key-file acme-account.pem`,
		Long: `Execute the plan in file PLAN (or recorded in the store under that plan ID).
It is refused unless the audit log holds an approval of the plan's exact hash.
Without --apply it is a dry run: it checks the approval and the executors and
says what it would do, sending nothing. With --apply every action's intent is
recorded before its CA is called and the outcome after; certificates the log
already shows revoked are not sent again, and a CA's "already revoked" is
reported, not an error.

ACME: --acme-directory (or revoke.acme-directory, or the one the plan names);
the account key from
--account-key-file or from the variable named by --account-key-env (default
` + stage.DefaultAccountKeyEnv + `), never from the command line; for plans authorised by the
certificate's own key, --cert-key-file (PEM), or --cert-key-pkcs11 URI for a key
held in a PKCS#11 token: the token signs the request (C_Sign), the key never
leaves it. The URI selects module (module-path), token and key (object, id);
the PIN comes from the URI's pin-source=file:PATH or from $KEYAUDIT_PKCS11_PIN,
never from the command line; one login per token. Hook: revoke.hook.command.

Exit codes: 0 every action revoked or already revoked (or dry run); 1 some
revocation failed (see keyaudit revoke log); 2 refused or could not run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.revokeConfig()
			if err != nil {
				return err
			}
			if apply && !approve {
				return withCode(exitError, errors.New("revoke apply revokes for real: confirm with --approve (the plan must still carry a recorded approval of its exact hash: keyaudit revoke approve)"))
			}
			p.Apply, p.Plan, p.UserAgent, p.Secrets = p.Apply || apply, args[0], "keyaudit/"+version, a.secrets()
			p = cfg.Execute(p)
			out, err := reports.NewStream(a.stdout, format, stage.RevokeActionColumns)
			if err != nil {
				return withCode(exitError, err)
			}
			var rep *revoke.Report
			if err := a.inRevokeStore(cmd, func(env stage.Env) (err error) {
				if rep, err = stage.RevokeExecute(cmd.Context(), env, p, out.Write); err != nil && (rep == nil || len(rep.Actions) == 0) {
					return err // refused: nothing to show
				}
				return cmp.Or(err, out.Close())
			}); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "keyaudit: %s\n", reports.Printable(rep.Summary()))
			if rep.Failed() > 0 {
				return withCode(exitFindings, fmt.Errorf("revoke: %d of %d revocations failed (see keyaudit revoke log)", rep.Failed(), len(rep.Actions)))
			}
			return nil
		},
	}
	f := cmd.Flags()
	if apply {
		cmd.Use = "apply PLAN --approve"
		cmd.Short = "Revoke exactly an approved plan (execute --apply)"
		cmd.Long = `Revoke the certificates of plan PLAN: the same as keyaudit revoke execute
PLAN --apply. --approve confirms that this run revokes for real; it is not an
approval: the plan is refused unless the audit log already holds an approval
of its exact hash (keyaudit revoke approve PLAN --approver NAME --hash HASH).

` + cmd.Long[strings.Index(cmd.Long, "ACME:"):]
		cmd.Example = `  keyaudit revoke apply plan.json --approve --account-key-file acme-account.pem`
		f.BoolVar(&approve, "approve", false, "confirm revoking for real (the recorded approval of the plan's hash is still required)")
	} else {
		f.BoolVar(&p.Apply, "apply", false, "revoke for real (default: dry run)")
	}
	f.StringVar(&p.ACMEDirectory, "acme-directory", "", "ACME directory URL (default revoke.acme-directory)")
	f.StringVar(&p.AccountKeyFile, "account-key-file", "", "file holding the ACME account's private key, PEM (default revoke.account-key-file)")
	f.StringVar(&p.AccountKeyEnv, "account-key-env", "", "environment variable holding the ACME account key, PEM (default revoke.account-key-env, else "+stage.DefaultAccountKeyEnv+")")
	f.StringArrayVar(&p.CertKeyFiles, "cert-key-file", nil, "a certificate's own private key, PEM, for certificate-key plans (repeatable)")
	f.StringArrayVar(&p.CertKeyPKCS11, "cert-key-pkcs11", nil, "PKCS#11 URI of certificates' own keys in a token, which signs inside it, for certificate-key plans (repeatable)")
	f.StringVar(&p.ACMECAFile, "acme-ca-file", "", "extra CA certificates (PEM) to trust for the ACME server's HTTPS (default revoke.acme-ca-file)")
	f.DurationVar(&p.HookTimeout, "hook-timeout", 0, "hook time limit (default revoke.hook.timeout, else 60s)")
	f.StringVar(&p.Actor, "actor", "", "who executes (default the OS user)")
	f.StringVar(&format, "format", "table", "output format: table, jsonl, json, csv")
	return cmd
}

func newRevokeLogCmd(a *app) *cobra.Command {
	var p stage.RevokeLogParams
	var format string
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Print the revocation audit log (oldest first)",
		Long:  help("revoke-log"),
		Example: `  keyaudit revoke log
  keyaudit revoke log --format jsonl -o revoke-log.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := reports.NewStream(a.stdout, format, stage.AuditEntryColumns)
			if err != nil {
				return withCode(exitError, err)
			}
			return a.inRevokeStore(cmd, func(env stage.Env) error {
				if err := stage.RevokeLog(cmd.Context(), env, p, out.Write); err != nil {
					return err
				}
				return out.Close()
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, jsonl, json, csv")
	cmd.Flags().StringVar(&p.PlanID, "plan", "", "only this plan's entries")
	cmd.Flags().BoolVar(&p.All, "all", false, "every audit entry, not only revocation ones")
	return cmd
}
