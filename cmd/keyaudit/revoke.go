package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reconcile/revoke"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// defaultAccountKeyEnv is the variable the ACME account key (PEM) is read
// from when no key file is given.
const defaultAccountKeyEnv = "KEYAUDIT_ACME_ACCOUNT_KEY"

// revokeConfig is the config's "revoke:" section.
type revokeConfig struct {
	// ACMEDirectory is the ACME directory URL revocations go to.
	ACMEDirectory string `yaml:"acme_directory"`
	// AccountKeyFile holds the ACME account's private key (PEM).
	AccountKeyFile string `yaml:"account_key_file"`
	// AccountKeyEnv names the variable holding the key instead.
	AccountKeyEnv string `yaml:"account_key_env"`
	// ACMECAFile adds CA certificates to trust for the ACME server's HTTPS.
	ACMECAFile string `yaml:"acme_ca_file"`
	// Executor (acme or hook) and Auth (account-key or certificate-key)
	// are plan defaults.
	Executor string `yaml:"executor"`
	Auth     string `yaml:"auth"`
	// Checks are the checks whose findings are revocable (default
	// unauthorized-issuance and weak-key).
	Checks []string `yaml:"checks"`
	// AuditLogFile mirrors every audit entry, hash-chained, into this
	// append-only JSON lines file (see keyaudit audit-log verify).
	AuditLogFile string `yaml:"audit_log_file"`
	Hook         struct {
		// Command is the hook program and its arguments (no shell).
		Command []string      `yaml:"command"`
		Timeout time.Duration `yaml:"timeout"`
	} `yaml:"hook"`
}

func init() {
	subcommands = append(subcommands, newRevokeCmd)
	// A later reconcile sees what keyaudit revoked (revoked-but-deployed).
	loadRevocations = revoke.Revocations
}

// revokeConfig decodes the "revoke:" section strictly: a misspelt key
// (or an attempt to put the account key itself there) is an error.
func (a *app) revokeConfig() (revokeConfig, error) {
	var c revokeConfig
	node, ok := a.config["revoke"]
	if !ok {
		return c, nil
	}
	b, err := yaml.Marshal(&node)
	if err != nil {
		return c, withCode(exitError, fmt.Errorf("config %s: revoke: %w", a.configPath, err))
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, withCode(exitError, fmt.Errorf("config %s: revoke: %s", a.configPath, squashSpace(err.Error())))
	}
	return c, nil
}

func squashSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// currentUser names who runs keyaudit, for the audit log.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "(unknown)"
}

func newRevokeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Plan, approve and execute certificate revocations, with an audit trail",
		Long: `Revocation is guarded: a plan lists exactly which certificates to revoke, why
(RFC 5280 reason, the findings that justify it) and through what (ACME
revokeCert or a hook); an approver approves that plan's exact hash; only then
does execute send anything, and only with --apply. Every step — plan created,
approved, approval refused, execution refused, attempted, revoked, already
revoked, failed — is appended to the store's audit log (keyaudit revoke log).

  keyaudit revoke plan --cert leaf.pem --reason keyCompromise -o plan.json
  keyaudit revoke plan --from-findings latest --cert rogue.pem --reason keyCompromise -o plan.json
  keyaudit revoke approve plan.json --approver alice --hash HASH
  keyaudit revoke execute plan.json --acme-directory URL --account-key-file acct.pem          # dry run
  keyaudit revoke execute plan.json --acme-directory URL --account-key-file acct.pem --apply  # revokes
  keyaudit revoke apply plan.json --approve --acme-directory URL --account-key-file acct.pem  # the same
  keyaudit revoke execute plan.json --apply --cert-key-pkcs11 'pkcs11:token=T;object=K?module-path=LIB&pin-source=file:PIN'

Every audit entry is hash-chained to the one before it (keyaudit audit-log
verify checks the chain); --audit-log-file (or revoke.audit_log_file) also
appends each entry as one JSON line to that file, synced after each line.

Config section "revoke:" — acme_directory, account_key_file, account_key_env,
acme_ca_file, executor, auth, checks, audit_log_file,
hook: {command: [prog, args…], timeout}.
The account key is read from a file or an environment variable, never from
the command line, and never written to any output or log.`,
	}
	cmd.PersistentFlags().String("audit-log-file", "", "also append every audit entry, hash-chained, to this JSON lines file (default revoke.audit_log_file)")
	cmd.AddCommand(newRevokePlanCmd(a), newRevokeApproveCmd(a), newRevokeExecuteCmd(a, false), newRevokeExecuteCmd(a, true), newRevokeLogCmd(a))
	return cmd
}

// revokeStore opens the store; revocation cannot run without its audit
// log. With --audit-log-file (or revoke.audit_log_file) every entry is
// also appended to that file; an entry that cannot be written there
// counts as a failed audit write (no CA is called).
func (a *app) revokeStore(cmd *cobra.Command) (store.Store, error) {
	if a.noStore {
		return nil, withCode(exitError, errors.New("revoke records every step in the store's audit log: --no-store cannot be used"))
	}
	cfg, err := a.revokeConfig()
	if err != nil {
		return nil, err
	}
	path := cfg.AuditLogFile
	if f := cmd.Flag("audit-log-file"); f != nil && f.Value.String() != "" {
		path = f.Value.String()
	}
	var af *store.AuditFile
	if path != "" {
		if af, err = store.OpenAuditFile(path); err != nil {
			return nil, withCode(exitError, err)
		}
	}
	st, err := a.openStore(cmd.Context())
	if err != nil || af == nil {
		return st, err
	}
	return store.WithAuditFile(st, af), nil
}

// loadPlanArg reads a plan file, or a plan recorded in the store by ID.
func loadPlanArg(ctx context.Context, st store.Store, arg string) (*revoke.Plan, error) {
	if _, err := os.Stat(arg); err != nil && strings.HasPrefix(arg, "rp-") {
		p, lerr := revoke.LoadPlan(ctx, st, arg)
		if lerr != nil {
			return nil, withCode(exitError, lerr)
		}
		return p, nil
	}
	p, err := revoke.ReadPlanFile(arg)
	if err != nil {
		return nil, withCode(exitError, err)
	}
	return p, nil
}

type revokePlanOptions struct {
	fromFindings string
	certs        []string
	reason       string
	executor     string
	auth         string
	directory    string
	note         string
	actor        string
	output       string
	checks       []string
}

func newRevokePlanCmd(a *app) *cobra.Command {
	o := &revokePlanOptions{}
	cmd := &cobra.Command{
		Use:   "plan (--from-findings RUN | --cert FILE...) --reason REASON [-o plan.json]",
		Short: "Write a revocation plan from revocable findings or from certificate files",
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
			return a.runRevokePlan(cmd, o, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.fromFindings, "from-findings", "", `plan from the revocable findings of this reconcile run (an ID, or "latest")`)
	f.StringArrayVar(&o.certs, "cert", nil, "certificate file (PEM or DER; repeatable)")
	f.StringVar(&o.reason, "reason", "", "revocation reason: "+revoke.ReasonNames())
	f.StringVar(&o.executor, "executor", "", "who revokes: acme or hook (default revoke.executor, else acme)")
	f.StringVar(&o.auth, "auth", "", "ACME authorisation: account-key or certificate-key (default revoke.auth, else account-key)")
	f.StringVar(&o.directory, "acme-directory", "", "fix the ACME directory URL in the plan (execution then refuses any other)")
	f.StringVar(&o.note, "note", "", "free-text note for the approver (ticket, context)")
	f.StringVar(&o.actor, "actor", "", "who creates the plan (default the OS user)")
	f.StringVarP(&o.output, "output", "o", "-", "plan file to write (- for stdout)")
	f.StringArrayVar(&o.checks, "check", nil, "revocable check (repeatable; default revoke.checks, else unauthorized-issuance and weak-key)")
	return cmd
}

func readCertFiles(paths []string, stderr io.Writer) ([]revoke.Certificate, error) {
	var out []revoke.Certificate
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		cs, err := revoke.ParseCertificates(b)
		if err != nil {
			return nil, fmt.Errorf("--cert %s: %w", p, err)
		}
		n := 0
		for _, c := range cs {
			if isCACert(c.DER) {
				fmt.Fprintf(stderr, "keyaudit: --cert %s: ignoring CA certificate %s\n", reports.Printable(p), reports.Printable(c.Info.Subject))
				continue
			}
			out = append(out, c)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("--cert %s: no end-entity certificate", p)
		}
	}
	return out, nil
}

// storedCertificates finds the certificates the findings name among the
// DERs that the reconcile run's input runs stored (kind certificate), so
// a plan from findings needs no --cert for what keyaudit itself saw.
func storedCertificates(ctx context.Context, st store.Store, run store.Run, fs []reconcile.Finding) ([]revoke.Certificate, error) {
	want := map[string]bool{}
	for _, f := range fs {
		if f.CertSHA256 != "" {
			want[f.CertSHA256] = true
		}
	}
	var meta struct {
		Inputs []reconcile.SourceStatus `json:"inputs"`
	}
	if len(want) == 0 || json.Unmarshal(run.Meta, &meta) != nil {
		return nil, nil
	}
	var out []revoke.Certificate
	for _, in := range meta.Inputs {
		if in.Kind != "scan" && in.Kind != "ct" {
			continue
		}
		err := st.Items(ctx, in.RunID, store.KindCertificate, func(it store.Item) error {
			if !want[it.Key] {
				return nil
			}
			var c struct{ DER []byte }
			if err := json.Unmarshal(it.Data, &c); err != nil {
				return fmt.Errorf("stored certificate %s: %w", it.Key, err)
			}
			cs, err := revoke.ParseCertificates(c.DER)
			if err != nil || len(cs) != 1 {
				return fmt.Errorf("stored certificate %s: %v", it.Key, err)
			}
			delete(want, it.Key)
			out = append(out, cs[0])
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isCACert(der []byte) bool {
	x, err := x509.ParseCertificate(der)
	return err == nil && x.BasicConstraintsValid && x.IsCA
}

func (a *app) runRevokePlan(cmd *cobra.Command, o *revokePlanOptions, cfg revokeConfig) error {
	ctx := cmd.Context()
	reason, err := revoke.ParseReason(o.reason)
	if err != nil {
		return withCode(exitError, fmt.Errorf("--reason: %w", err))
	}
	if o.fromFindings == "" && len(o.certs) == 0 {
		return withCode(exitError, errors.New("nothing to plan: give --from-findings RUN and/or --cert FILE"))
	}
	certs, err := readCertFiles(o.certs, a.stderr)
	if err != nil {
		return withCode(exitError, err)
	}
	opts := revoke.PlanOptions{
		Reason: reason, Executor: firstSet(o.executor, cfg.Executor), Auth: firstSet(o.auth, cfg.Auth),
		Directory: o.directory, CreatedBy: firstSet(o.actor, osUser()), Note: o.note, Checks: o.checks,
	}
	if len(opts.Checks) == 0 {
		opts.Checks = cfg.Checks
	}
	for _, c := range opts.Checks {
		if _, ok := reconcile.Lookup(c); !ok {
			return withCode(exitError, fmt.Errorf("revocable check %q: no such check (see keyaudit checks list)", c))
		}
	}
	st, err := a.revokeStore(cmd)
	if err != nil {
		return err
	}
	defer st.Close()

	var plan *revoke.Plan
	if o.fromFindings != "" {
		run, err := reconcileRun(ctx, st, o.fromFindings)
		if err != nil {
			return withCode(exitError, fmt.Errorf("--from-findings: %w", err))
		}
		var fs []reconcile.Finding
		if err := records.Decode(ctx, st, run.ID, store.KindFinding, &fs); err != nil {
			return withCode(exitError, err)
		}
		stored, err := storedCertificates(ctx, st, run, fs)
		if err != nil {
			return withCode(exitError, err)
		}
		if plan, err = revoke.FromFindings(run.ID, fs, append(certs, stored...), opts); err != nil {
			return withCode(exitError, err)
		}
	} else if plan, err = revoke.FromCertificates(certs, opts); err != nil {
		return withCode(exitError, err)
	}
	if len(plan.Actions) == 0 {
		for _, s := range plan.Skipped {
			fmt.Fprintf(a.stderr, "keyaudit: skipped %s: %s\n", reports.Printable(revoke.ShortHash(s.CertSHA256)), reports.Printable(s.Why))
		}
		return withCode(exitError, fmt.Errorf("no revocation to plan (%d revocable findings without a supplied certificate)", len(plan.Skipped)))
	}
	if _, err := revoke.Record(ctx, st, plan); err != nil {
		return withCode(exitError, err)
	}
	summary := a.stderr
	if o.output == "-" {
		b, err := plan.Marshal()
		if err != nil {
			return withCode(exitError, err)
		}
		if _, err := a.stdout.Write(b); err != nil {
			return withCode(exitError, err)
		}
	} else {
		if err := plan.WriteFile(o.output); err != nil {
			return withCode(exitError, fmt.Errorf("write plan: %w", err))
		}
		summary = a.stdout
	}
	printPlanSummary(summary, plan, o.output)
	return nil
}

func firstSet(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// reconcileRun resolves --from-findings: a run ID or "latest".
func reconcileRun(ctx context.Context, st store.Store, arg string) (store.Run, error) {
	if arg == "latest" {
		r, err := store.Latest(ctx, st, "reconcile", store.StatusComplete, store.StatusPartial)
		if errors.Is(err, store.ErrNotFound) {
			return r, errors.New("the store holds no finished reconcile run")
		}
		return r, err
	}
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		return store.Run{}, fmt.Errorf("%q is not a run ID", arg)
	}
	r, err := st.GetRun(ctx, id)
	if err != nil {
		return r, fmt.Errorf("run %d: %w", id, err)
	}
	if r.Kind != "reconcile" {
		return r, fmt.Errorf("run %d is a %s run, not a reconcile run", id, r.Kind)
	}
	return r, nil
}

// printPlanSummary writes the plan for its approver. Every field comes
// from certificates, findings or a plan file, none of them trusted: each
// is passed through reports.Printable so no terminal escape reaches the
// approver's screen.
func printPlanSummary(w io.Writer, p *revoke.Plan, path string) {
	pr := reports.Printable
	fmt.Fprintf(w, "plan %s sha256:%s — %d revocation(s), %s, by %s\n", pr(p.ID), pr(p.Hash), len(p.Actions), pr(p.Source), pr(p.CreatedBy))
	for i, act := range p.Actions {
		c := act.Certificate
		how := act.Executor
		if act.Auth != "" {
			how += " (" + act.Auth + ")"
		}
		var checks []string
		for _, f := range act.Findings {
			checks = append(checks, f.Check)
		}
		just := "operator's request"
		if len(checks) > 0 {
			just = "findings: " + strings.Join(checks, ", ")
		}
		fmt.Fprintf(w, "  %d. serial %s [%s] issued by %s, cert sha256 %s — reason %s via %s — %s\n",
			i+1, pr(c.Serial), pr(strings.Join(c.Names, ", ")), pr(c.Issuer), pr(revoke.ShortHash(c.SHA256)), pr(act.Reason.String()), pr(how), pr(just))
	}
	for _, s := range p.Skipped {
		fmt.Fprintf(w, "  skipped: cert sha256 %s — %s\n", pr(revoke.ShortHash(s.CertSHA256)), pr(s.Why))
	}
	if path == "-" {
		path = "PLAN"
	}
	fmt.Fprintf(w, "review it, then: keyaudit revoke approve %s --approver NAME --hash %s\n", pr(path), pr(p.Hash))
}

func newRevokeApproveCmd(a *app) *cobra.Command {
	var approver, hash string
	cmd := &cobra.Command{
		Use:   "approve PLAN --approver NAME --hash SHA256",
		Short: "Approve a revocation plan: the approver's identity bound to the plan's exact hash",
		Long: `Approve the plan in file PLAN (or recorded in the store under that plan ID).
--hash is the plan hash the approver reviewed (printed by keyaudit revoke plan);
the approval is refused — and the refusal recorded — when it is not the hash of
PLAN's content, when PLAN changed since it was recorded, or when the store never
recorded it. There is no way to approve without naming the hash.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(approver) == "" {
				return withCode(exitError, errors.New("--approver NAME is required: an approval names who approves"))
			}
			if strings.TrimSpace(hash) == "" {
				return withCode(exitError, errors.New("--hash is required: approve the exact plan you reviewed (its hash is printed by keyaudit revoke plan)"))
			}
			st, err := a.revokeStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			p, err := loadPlanArg(ctx, st, args[0])
			if err != nil {
				return err
			}
			ap, err := revoke.Approve(ctx, st, p, approver, hash)
			if err != nil {
				return withCode(exitError, fmt.Errorf("approval refused: %w", err))
			}
			fmt.Fprintf(a.stdout, "approved plan %s sha256:%s by %s at %s (audit #%d)\n", reports.Printable(ap.PlanID), reports.Printable(ap.PlanHash), reports.Printable(ap.Approver), ap.Time.UTC().Format(time.RFC3339), ap.AuditID)
			return nil
		},
	}
	cmd.Flags().StringVar(&approver, "approver", "", "who approves (recorded in the audit log)")
	cmd.Flags().StringVar(&hash, "hash", "", "the SHA-256 of the plan that was reviewed")
	return cmd
}

type revokeExecOptions struct {
	apply          bool
	directory      string
	accountKeyFile string
	accountKeyEnv  string
	certKeyFiles   []string
	certKeyPKCS11  []string
	approve        bool
	caFile         string
	hookTimeout    time.Duration
	actor          string
	format         string
}

// newRevokeExecuteCmd builds "revoke execute", or with apply its alias
// "revoke apply PLAN --approve" (execute --apply under the name).
func newRevokeExecuteCmd(a *app, apply bool) *cobra.Command {
	o := &revokeExecOptions{}
	cmd := &cobra.Command{
		Use:   "execute PLAN [--apply]",
		Short: "Carry out an approved revocation plan (a dry run unless --apply)",
		Long: `Execute the plan in file PLAN (or recorded in the store under that plan ID).
It is refused unless the audit log holds an approval of the plan's exact hash.
Without --apply it is a dry run: it checks the approval and the executors and
says what it would do, sending nothing. With --apply every action's intent is
recorded before its CA is called and the outcome after; certificates the log
already shows revoked are not sent again, and a CA's "already revoked" is
reported, not an error.

ACME: --acme-directory (or revoke.acme_directory, or the one the plan names);
the account key from
--account-key-file or from the variable named by --account-key-env (default
` + defaultAccountKeyEnv + `), never from the command line; for plans authorised by the
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
			if apply {
				if !o.approve {
					return withCode(exitError, errors.New("revoke apply revokes for real: confirm with --approve (the plan must still carry a recorded approval of its exact hash: keyaudit revoke approve)"))
				}
				o.apply = true
			}
			return a.runRevokeExecute(cmd, args[0], o, cfg)
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
		f.BoolVar(&o.approve, "approve", false, "confirm revoking for real (the recorded approval of the plan's hash is still required)")
	} else {
		f.BoolVar(&o.apply, "apply", false, "revoke for real (default: dry run)")
	}
	f.StringVar(&o.directory, "acme-directory", "", "ACME directory URL (default revoke.acme_directory)")
	f.StringVar(&o.accountKeyFile, "account-key-file", "", "file holding the ACME account's private key, PEM (default revoke.account_key_file)")
	f.StringVar(&o.accountKeyEnv, "account-key-env", "", "environment variable holding the ACME account key, PEM (default revoke.account_key_env, else "+defaultAccountKeyEnv+")")
	f.StringArrayVar(&o.certKeyFiles, "cert-key-file", nil, "a certificate's own private key, PEM, for certificate-key plans (repeatable)")
	f.StringArrayVar(&o.certKeyPKCS11, "cert-key-pkcs11", nil, "PKCS#11 URI of certificates' own keys in a token, which signs inside it, for certificate-key plans (repeatable)")
	f.StringVar(&o.caFile, "acme-ca-file", "", "extra CA certificates (PEM) to trust for the ACME server's HTTPS (default revoke.acme_ca_file)")
	f.DurationVar(&o.hookTimeout, "hook-timeout", 0, "hook time limit (default revoke.hook.timeout, else 60s)")
	f.StringVar(&o.actor, "actor", "", "who executes (default the OS user)")
	f.StringVar(&o.format, "format", "table", "output format: table, jsonl, json, csv")
	return cmd
}

var executeColumns = []reports.Column[revoke.ActionReport]{
	{Header: "#", Value: func(r revoke.ActionReport) string { return strconv.Itoa(r.Action) }},
	{Header: "OUTCOME", Value: func(r revoke.ActionReport) string { return string(r.Outcome) }},
	{Header: "SERIAL", Value: func(r revoke.ActionReport) string { return r.Serial }},
	{Header: "NAMES", Value: func(r revoke.ActionReport) string { return strings.Join(r.Names, ", ") }},
	{Header: "REASON", Value: func(r revoke.ActionReport) string { return r.Reason }},
	{Header: "EXECUTOR", Value: func(r revoke.ActionReport) string { return r.Executor }},
	{Header: "MESSAGE", Value: func(r revoke.ActionReport) string { return r.Message }},
}

func (a *app) runRevokeExecute(cmd *cobra.Command, planArg string, o *revokeExecOptions, cfg revokeConfig) error {
	ctx := cmd.Context()
	out, err := reports.NewStream(a.stdout, o.format, executeColumns)
	if err != nil {
		return withCode(exitError, err)
	}
	st, err := a.revokeStore(cmd)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := loadPlanArg(ctx, st, planArg)
	if err != nil {
		return err
	}
	executors := map[string]revoke.Executor{}
	keyEnv := firstSet(o.accountKeyEnv, cfg.AccountKeyEnv, defaultAccountKeyEnv)
	uses := map[string]bool{}
	for _, act := range p.Actions {
		uses[act.Executor] = true
	}
	if uses[revoke.ExecutorACME] {
		x, err := a.acmeExecutor(o, cfg, keyEnv, planDirectory(p))
		if err != nil {
			return withCode(exitError, err)
		}
		for _, uri := range o.certKeyPKCS11 {
			tok, err := revoke.OpenPKCS11(uri, os.Getenv)
			if err != nil {
				return withCode(exitError, fmt.Errorf("--cert-key-pkcs11: %w", err))
			}
			defer tok.Close()
			for _, sg := range tok.Signers() {
				if err := x.AddCertKey(sg); err != nil {
					return withCode(exitError, fmt.Errorf("--cert-key-pkcs11 %s: %w", sg, err))
				}
			}
		}
		executors[revoke.ExecutorACME] = x
	}
	if uses[revoke.ExecutorHook] { // without a command, its Check says what to configure
		timeout := o.hookTimeout
		if timeout == 0 {
			timeout = cfg.Hook.Timeout
		}
		executors[revoke.ExecutorHook] = &revoke.HookExecutor{Command: cfg.Hook.Command, Timeout: timeout, DropEnv: []string{keyEnv, "KEYAUDIT_PKCS11_PIN"}}
	}
	rep, err := revoke.Execute(ctx, st, p, revoke.ExecOptions{Apply: o.apply, Actor: firstSet(o.actor, osUser()), Executors: executors})
	if err != nil && len(rep.Actions) == 0 {
		return withCode(exitError, err) // refused: nothing to show
	}
	for _, ar := range rep.Actions {
		if werr := out.Write(ar); werr != nil && err == nil {
			err = werr
		}
	}
	if cerr := out.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return withCode(exitError, err)
	}
	c := rep.Counts
	if rep.DryRun {
		fmt.Fprintf(a.stderr, "keyaudit: dry run of plan %s (approved by %s): nothing was sent; add --apply to revoke\n", reports.Printable(rep.PlanID), reports.Printable(rep.Approval.Approver))
		return nil
	}
	fmt.Fprintf(a.stderr, "keyaudit: plan %s: %d revoked, %d already revoked, %d failed\n", reports.Printable(rep.PlanID),
		c[string(revoke.OutcomeRevoked)], c[string(revoke.OutcomeAlreadyRevoked)], c[string(revoke.OutcomeFailed)])
	if rep.Failed() > 0 {
		return withCode(exitFindings, fmt.Errorf("revoke: %d of %d revocations failed (see keyaudit revoke log)", rep.Failed(), len(rep.Actions)))
	}
	return nil
}

// planDirectory is the ACME directory the plan's ACME actions name, when
// they all name the same one.
func planDirectory(p *revoke.Plan) string {
	dir := ""
	for _, act := range p.Actions {
		if act.Executor != revoke.ExecutorACME {
			continue
		}
		if act.Directory == "" || (dir != "" && act.Directory != dir) {
			return ""
		}
		dir = act.Directory
	}
	return dir
}

func (a *app) acmeExecutor(o *revokeExecOptions, cfg revokeConfig, keyEnv, planDir string) (*revoke.ACMEExecutor, error) {
	x := &revoke.ACMEExecutor{DirectoryURL: firstSet(o.directory, cfg.ACMEDirectory, planDir), UserAgent: "keyaudit/" + version}
	keyFile := firstSet(o.accountKeyFile, cfg.AccountKeyFile)
	var keyPEM []byte
	switch {
	case keyFile != "":
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("account key: %w", err)
		}
		keyPEM = b
		if st, err := os.Stat(keyFile); err == nil && st.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(a.stderr, "keyaudit: warning: account key file %s is readable by others (mode %v)\n", keyFile, st.Mode().Perm())
		}
	case os.Getenv(keyEnv) != "":
		keyPEM = []byte(os.Getenv(keyEnv))
	}
	if keyPEM != nil {
		k, err := revoke.ParsePrivateKey(keyPEM)
		if err != nil {
			src := "variable " + keyEnv
			if keyFile != "" {
				src = "file " + keyFile
			}
			return nil, fmt.Errorf("account key (%s): %w", src, err)
		}
		x.AccountKey = k
	}
	for _, f := range o.certKeyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--cert-key-file: %w", err)
		}
		k, err := revoke.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("--cert-key-file %s: %w", f, err)
		}
		if err := x.AddCertKey(k); err != nil {
			return nil, fmt.Errorf("--cert-key-file %s: %w", f, err)
		}
	}
	caFile := firstSet(o.caFile, cfg.ACMECAFile)
	hc := &http.Client{Timeout: 60 * time.Second}
	if caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ACME CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("ACME CA file %s: no PEM certificate", caFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		hc.Transport = tr
	}
	x.HTTPClient = hc
	return x, nil
}

// auditRow is one audit log line as printed.
type auditRow struct {
	ID     int64           `json:"id"`
	Time   time.Time       `json:"time"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target"`
	Detail json.RawMessage `json:"detail,omitempty"`
	// PrevHash and Hash chain the entry (store.AuditHash).
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

func newRevokeLogCmd(a *app) *cobra.Command {
	var format, planID string
	var all bool
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Print the revocation audit log (oldest first)",
		Long: `Print the audit log's revocation entries (revoke.*), oldest first: plans
created, approvals and refusals, intents, outcomes. --plan limits it to one
plan's entries; --all prints every entry of the audit log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out, err := reports.NewStream(a.stdout, format, []reports.Column[auditRow]{
				{Header: "ID", Value: func(r auditRow) string { return strconv.FormatInt(r.ID, 10) }},
				{Header: "TIME", Value: func(r auditRow) string { return r.Time.UTC().Format(time.RFC3339) }},
				{Header: "ACTOR", Value: func(r auditRow) string { return r.Actor }},
				{Header: "ACTION", Value: func(r auditRow) string { return r.Action }},
				{Header: "TARGET", Value: func(r auditRow) string { return r.Target }},
				{Header: "DETAIL", Value: func(r auditRow) string { return auditSummary(r) }},
			})
			if err != nil {
				return withCode(exitError, err)
			}
			st, err := a.revokeStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			err = st.Audit(ctx, func(e store.AuditEntry) error {
				if !all && !strings.HasPrefix(e.Action, revoke.ActionPrefix) {
					return nil
				}
				if planID != "" {
					var d revoke.Detail
					_ = json.Unmarshal(e.Detail, &d)
					if d.PlanID != planID && e.Target != planID {
						return nil
					}
				}
				return out.Write(auditRow(e))
			})
			if err != nil {
				return withCode(exitError, err)
			}
			return out.Close()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, jsonl, json, csv")
	cmd.Flags().StringVar(&planID, "plan", "", "only this plan's entries")
	cmd.Flags().BoolVar(&all, "all", false, "every audit entry, not only revocation ones")
	return cmd
}

// auditSummary renders the detail of an entry in one short line.
func auditSummary(r auditRow) string {
	var d revoke.Detail
	if err := json.Unmarshal(r.Detail, &d); err != nil {
		return string(r.Detail)
	}
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if r.Target != d.PlanID {
		add("plan", d.PlanID)
	}
	add("hash", revoke.ShortHash(d.PlanHash))
	add("approver", d.Approver)
	add("serial", d.Serial)
	if d.Reason != nil {
		add("reason", d.Reason.Name)
	}
	add("via", d.Executor)
	add("source", d.Source)
	if d.HTTPStatus != 0 {
		add("http", strconv.Itoa(d.HTTPStatus))
	}
	add("error", d.Error)
	add("why", d.Why)
	if d.Plan != nil {
		add("actions", strconv.Itoa(len(d.Plan.Actions)))
	}
	for _, k := range []string{"revoked", "already_revoked", "failed", "would_revoke"} {
		if n, ok := d.Counts[k]; ok {
			add(k, strconv.Itoa(n))
		}
	}
	return strings.Join(parts, " ")
}
