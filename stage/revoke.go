package stage

import (
	"cmp"
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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/guard"
	"github.com/keyaudit/keyaudit/internal/secretfile"
	invp11 "github.com/keyaudit/keyaudit/inventory/pkcs11"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reconcile/revoke"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// Revocation is guarded: RevokePlan records a plan, RevokeApprove binds
// an approver to its exact hash, and RevokeExecute acts on an approved
// plan only, writing each intent to the store's audit log before calling
// a CA (see package reconcile/revoke). The store is the audit log: none
// of them runs without one.

// DefaultAccountKeyEnv is the variable the ACME account key (PEM) is
// read from when no key file is given.
const DefaultAccountKeyEnv = "KEYAUDIT_ACME_ACCOUNT_KEY"

// OpenAuditLogged opens a store with open, its audit log mirrored into
// the JSON lines file path when path is not empty: every audit entry is
// also appended there, hash-chained and synced, and an entry that cannot
// be is a failed audit write, so no CA is called (store.WithAuditFile).
// The file is opened first: an unusable one is refused before the store
// is opened, or created.
func OpenAuditLogged(path string, open func() (store.Store, error)) (store.Store, error) {
	var af *store.AuditFile
	if path != "" {
		var err error
		if af, err = store.OpenAuditFile(path); err != nil {
			return nil, err
		}
	}
	st, err := open()
	if err != nil || af == nil {
		return st, err
	}
	return store.WithAuditFile(st, af), nil
}

func revokeStore(env Env) (store.Store, error) {
	if env.Store == nil {
		return nil, errors.New("revoke records every step in the store's audit log: no store")
	}
	return env.Store, nil
}

// osUser names who runs keyaudit, for the audit log.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "(unknown)"
}

// ReadCertificates reads certificate files (PEM, several per file, or
// DER) to plan revocations for. CA certificates, such as a chain file's
// intermediates, are left out with a note on env.Stderr; a file holding
// no end-entity certificate is an error.
func ReadCertificates(env Env, paths []string) ([]revoke.Certificate, error) {
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
			if c.IsCA() {
				fmt.Fprintf(env.stderr(), "keyaudit: --cert %s: ignoring CA certificate %s\n", reports.Printable(p), reports.Printable(c.Info.Subject))
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

// RevokePlanParams are a revocation plan's inputs beyond the store.
type RevokePlanParams struct {
	// FromFindings plans from the revocable findings of this reconcile
	// run: its ID, or "latest" (the latest finished reconcile run).
	// Empty plans Certs on the operator's word.
	FromFindings string
	// Certs are the certificates to revoke (ReadCertificates); with
	// FromFindings, the certificates of its findings beyond those the
	// store holds.
	Certs []revoke.Certificate
	// Options: Reason is required; CreatedBy defaults to the OS user.
	Options revoke.PlanOptions
}

// Validate checks p without the store.
func (p RevokePlanParams) Validate() error {
	if p.FromFindings == "" && len(p.Certs) == 0 {
		return errors.New("nothing to plan: give --from-findings RUN and/or --cert FILE")
	}
	for _, c := range p.Options.Checks {
		if _, ok := reconcile.Lookup(c); !ok {
			return fmt.Errorf("revocable check %q: no such check (see keyaudit checks list)", c)
		}
	}
	return nil
}

// RevokePlan builds a revocation plan and records it in the audit log
// (revoke.plan_created). From findings, it reads the findings the
// reconcile run recorded and the certificates they name from the runs
// that reconcile read, beside p.Certs. A plan without any action is an
// error, its skipped findings listed on env.Stderr.
func RevokePlan(ctx context.Context, env Env, p RevokePlanParams) (*revoke.Plan, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	st, err := revokeStore(env)
	if err != nil {
		return nil, err
	}
	opts := p.Options
	opts.CreatedBy = cmp.Or(opts.CreatedBy, osUser())
	if opts.Now.IsZero() {
		opts.Now = env.now()
	}
	var plan *revoke.Plan
	if p.FromFindings != "" {
		run, err := reconcileRun(ctx, st, p.FromFindings)
		if err != nil {
			return nil, fmt.Errorf("--from-findings: %w", err)
		}
		var fs []reconcile.Finding
		if err := records.Decode(ctx, st, run.ID, store.KindFinding, &fs); err != nil {
			return nil, err
		}
		checks := opts.Checks
		if len(checks) == 0 {
			checks = revoke.DefaultRevocableChecks
		}
		var revocable []reconcile.Finding
		for _, f := range fs {
			if slices.Contains(checks, f.Check) && !f.Suppressed {
				revocable = append(revocable, f)
			}
		}
		stored, err := storedCertificates(ctx, st, run, revocable, func(msg string) {
			fmt.Fprintf(env.stderr(), "keyaudit: %s\n", reports.Printable(msg))
		})
		if err != nil {
			return nil, err
		}
		if plan, err = revoke.FromFindings(run.ID, fs, slices.Concat(p.Certs, stored), opts); err != nil {
			return nil, err
		}
	} else if plan, err = revoke.FromCertificates(p.Certs, opts); err != nil {
		return nil, err
	}
	if len(plan.Actions) == 0 {
		for _, s := range plan.Skipped {
			fmt.Fprintf(env.stderr(), "keyaudit: skipped %s: %s\n", reports.Printable(revoke.ShortHash(s.CertSHA256)), reports.Printable(s.Why))
		}
		return nil, fmt.Errorf("no revocation to plan (%d revocable findings without a supplied certificate)", len(plan.Skipped))
	}
	if _, err := revoke.Record(ctx, st, plan); err != nil {
		return nil, err
	}
	return plan, nil
}

// reconcileRun resolves a run ID or "latest" to a reconcile run.
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

// storedCertificates finds the certificates the (revocable) findings name among the
// DERs the reconcile run recorded (or, for an older reconcile, its input
// runs stored), so a plan from findings needs no --cert for what keyaudit
// itself saw.
//
// A stored certificate that does not parse (a negative serial, say) is
// left out with a warning: it cannot be revoked through a plan, and the
// other findings still can.
func storedCertificates(ctx context.Context, st store.Store, run store.Run, fs []reconcile.Finding, warn func(string)) ([]revoke.Certificate, error) {
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
	// The reconcile records the certificates its findings name; one from
	// before it did names its input runs, which stored them.
	runs := []int64{run.ID}
	for _, in := range meta.Inputs {
		if (in.Kind == "scan" || in.Kind == "ct") && in.RunID != 0 {
			runs = append(runs, in.RunID)
		}
	}
	var out []revoke.Certificate
	for _, id := range runs {
		err := st.Items(ctx, id, store.KindCertificate, func(it store.Item) error {
			if !want[it.Key] {
				return nil
			}
			der, err := records.DecodeCertificateDER(it)
			if err != nil {
				return fmt.Errorf("stored certificate %s: %w", it.Key, err)
			}
			cs, err := revoke.ParseCertificates(der)
			if err != nil || len(cs) != 1 {
				delete(want, it.Key)
				warn(fmt.Sprintf("stored certificate %s left out of the plan: %v", revoke.ShortHash(it.Key), err))
				return nil
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

// loadRevokePlan reads the plan in file arg or, when no such file exists
// and arg is a plan ID, the plan recorded in the store under arg.
func loadRevokePlan(ctx context.Context, env Env, arg string) (*revoke.Plan, error) {
	if _, err := os.Stat(arg); err != nil && strings.HasPrefix(arg, "rp-") {
		st, err := revokeStore(env)
		if err != nil {
			return nil, err
		}
		return revoke.LoadPlan(ctx, st, arg)
	}
	return revoke.ReadPlanFile(arg)
}

// RevokeApproveParams name a plan, who approves it and the hash they
// reviewed.
type RevokeApproveParams struct {
	// Plan is a plan file, or the ID of a plan recorded in the store.
	Plan     string
	Approver string
	// Hash is the plan hash the approver reviewed ("sha256:HEX" or HEX).
	Hash string
}

// Validate checks p without the store: an approval names who approves
// and the exact hash they approve.
func (p RevokeApproveParams) Validate() error {
	if strings.TrimSpace(p.Approver) == "" {
		return errors.New("--approver NAME is required: an approval names who approves")
	}
	if strings.TrimSpace(p.Hash) == "" {
		return errors.New("--hash is required: approve the exact plan you reviewed (its hash is printed by keyaudit revoke plan)")
	}
	return nil
}

// RevokeApprove records the approval of a plan's exact hash
// (revoke.approved), or refuses it and records the refusal when the hash
// is not the plan's, the plan changed since it was recorded, or it never
// was (revoke.Approve).
func RevokeApprove(ctx context.Context, env Env, p RevokeApproveParams) (revoke.Approval, error) {
	if err := p.Validate(); err != nil {
		return revoke.Approval{}, err
	}
	st, err := revokeStore(env)
	if err != nil {
		return revoke.Approval{}, err
	}
	plan, err := loadRevokePlan(ctx, env, p.Plan)
	if err != nil {
		return revoke.Approval{}, err
	}
	ap, err := revoke.Approve(ctx, st, plan, p.Approver, p.Hash)
	if err != nil {
		return ap, fmt.Errorf("approval refused: %w", err)
	}
	return ap, nil
}

// RevokeExecuteParams are an execution's inputs beyond the store. No
// secret is a parameter: keys are read from files, from the environment
// or from PKCS#11 tokens, and never written anywhere.
type RevokeExecuteParams struct {
	// Plan is a plan file, or the ID of a plan recorded in the store.
	Plan string
	// Apply revokes for real; without it the execution is a dry run
	// that checks the approval and the executors and sends nothing.
	Apply bool
	// Actor is who executes (default the OS user).
	Actor string

	// ACMEDirectory is the ACME directory URL (default the one the
	// plan's ACME actions all name).
	ACMEDirectory string
	// AccountKeyFile holds the ACME account key (PEM); without it the
	// variable AccountKeyEnv (default DefaultAccountKeyEnv) may.
	AccountKeyFile string
	AccountKeyEnv  string
	// CertKeyFiles hold certificates' own keys (PEM), for
	// certificate-key actions; CertKeyPKCS11 are PKCS#11 URIs of such
	// keys, which sign inside their token.
	CertKeyFiles  []string
	CertKeyPKCS11 []string
	// ACMECAFile adds CA certificates to trust for the ACME server.
	ACMECAFile string
	UserAgent  string

	// HookCommand and HookTimeout run the hook executor.
	HookCommand []string
	HookTimeout time.Duration

	// Getenv reads the account key and PIN variables (nil: os.Getenv).
	Getenv func(string) string
	// Secrets says what to do with a key or PIN file its group or others
	// may read: refuse it (strict) or warn (a nil Warn writes the
	// warning to the Env's stderr).
	Secrets secretfile.Policy
}

// RevokeExecute carries out an approved plan with the executors its
// actions use (revoke.Execute): refused, and the refusal recorded, unless
// the audit log holds an approval of the plan's exact hash; a dry run
// unless p.Apply; each action's intent recorded before its CA is called.
// Then emit (when not nil) is called with each action's report, even
// after an error that came after some actions (the report holds them); a
// refusal, or an error before any action, emits nothing.
func RevokeExecute(ctx context.Context, env Env, p RevokeExecuteParams, emit func(revoke.ActionReport) error) (*revoke.Report, error) {
	st, err := revokeStore(env)
	if err != nil {
		return nil, err
	}
	plan, err := loadRevokePlan(ctx, env, p.Plan)
	if err != nil {
		return nil, err
	}
	if p.Getenv == nil {
		p.Getenv = os.Getenv
	}
	p.AccountKeyEnv = cmp.Or(p.AccountKeyEnv, DefaultAccountKeyEnv)
	if p.Secrets.Warn == nil {
		p.Secrets.Warn = func(err error) { fmt.Fprintf(env.stderr(), "keyaudit: warning: %v\n", err) }
	}
	executors := map[string]revoke.Executor{}
	uses := map[string]bool{}
	for _, act := range plan.Actions {
		uses[act.Executor] = true
	}
	if uses[revoke.ExecutorACME] {
		x, err := acmeExecutor(env, p, plan.ACMEDirectory())
		if err != nil {
			return nil, err
		}
		for _, uri := range p.CertKeyPKCS11 {
			tok, err := revoke.OpenPKCS11(uri, p.Getenv, p.Secrets)
			if err != nil {
				return nil, fmt.Errorf("--cert-key-pkcs11: %w", err)
			}
			defer tok.Close()
			for _, sg := range tok.Signers() {
				if err := x.AddCertKey(sg); err != nil {
					return nil, fmt.Errorf("--cert-key-pkcs11 %s: %w", sg, err)
				}
			}
		}
		executors[revoke.ExecutorACME] = x
	}
	if uses[revoke.ExecutorHook] { // without a command, its Check says what to configure
		executors[revoke.ExecutorHook] = &revoke.HookExecutor{Command: p.HookCommand, Timeout: p.HookTimeout, DropEnv: []string{p.AccountKeyEnv, invp11.PINEnv}}
	}
	rep, err := revoke.Execute(ctx, st, plan, revoke.ExecOptions{Apply: p.Apply, Actor: cmp.Or(p.Actor, osUser()), Executors: executors})
	if emit != nil && rep != nil {
		for _, ar := range rep.Actions {
			err = cmp.Or(err, emit(ar))
		}
	}
	return rep, err
}

// maxKeyFile bounds a private key file.
const maxKeyFile = 1 << 20

// readKeyFile reads a private key file; one its group or others may read
// is warned about or refused as secrets says.
func readKeyFile(what, path string, secrets secretfile.Policy) ([]byte, error) {
	return secrets.ReadFile(what, path, maxKeyFile)
}

// acmeExecutor reads the ACME keys and CA file p names; the directory is
// p's, else planDir.
func acmeExecutor(env Env, p RevokeExecuteParams, planDir string) (*revoke.ACMEExecutor, error) {
	x := &revoke.ACMEExecutor{DirectoryURL: cmp.Or(p.ACMEDirectory, planDir), UserAgent: p.UserAgent}
	var keyPEM []byte
	switch {
	case p.AccountKeyFile != "":
		b, err := readKeyFile("account key file", p.AccountKeyFile, p.Secrets)
		if err != nil {
			return nil, fmt.Errorf("account key: %w", err)
		}
		keyPEM = b
	case p.Getenv(p.AccountKeyEnv) != "":
		keyPEM = []byte(p.Getenv(p.AccountKeyEnv))
	}
	if keyPEM != nil {
		k, err := revoke.ParsePrivateKey(keyPEM)
		if err != nil {
			src := "variable " + p.AccountKeyEnv
			if p.AccountKeyFile != "" {
				src = "file " + p.AccountKeyFile
			}
			return nil, fmt.Errorf("account key (%s): %w", src, err)
		}
		x.AccountKey = k
	}
	for _, f := range p.CertKeyFiles {
		b, err := readKeyFile("certificate key file", f, p.Secrets)
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
	hc := &http.Client{Timeout: 60 * time.Second}
	if p.ACMECAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		b, err := os.ReadFile(p.ACMECAFile)
		if err != nil {
			return nil, fmt.Errorf("ACME CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("ACME CA file %s: no PEM certificate", p.ACMECAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		hc.Transport = tr
	}
	x.HTTPClient = hc
	return x, nil
}

// RevokeActionColumns are the table and CSV columns of an execution's
// action reports.
var RevokeActionColumns = []reports.Column[revoke.ActionReport]{
	{Header: "#", Value: func(r revoke.ActionReport) string { return strconv.Itoa(r.Action) }},
	{Header: "OUTCOME", Value: func(r revoke.ActionReport) string { return string(r.Outcome) }},
	{Header: "SERIAL", Value: func(r revoke.ActionReport) string { return r.Serial }},
	{Header: "NAMES", Value: func(r revoke.ActionReport) string { return strings.Join(r.Names, ", ") }},
	{Header: "REASON", Value: func(r revoke.ActionReport) string { return r.Reason }},
	{Header: "EXECUTOR", Value: func(r revoke.ActionReport) string { return r.Executor }},
	{Header: "MESSAGE", Value: func(r revoke.ActionReport) string { return r.Message }},
}

// AuditEntryColumns are the table and CSV columns of audit log entries,
// the detail of revoke.* entries summarised (revoke.Summary).
var AuditEntryColumns = []reports.Column[store.AuditEntry]{
	{Header: "ID", Value: func(e store.AuditEntry) string { return strconv.FormatInt(e.ID, 10) }},
	{Header: "TIME", Value: func(e store.AuditEntry) string { return e.Time.UTC().Format(time.RFC3339) }},
	{Header: "ACTOR", Value: func(e store.AuditEntry) string { return e.Actor }},
	{Header: "ACTION", Value: func(e store.AuditEntry) string { return e.Action }},
	{Header: "TARGET", Value: func(e store.AuditEntry) string { return e.Target }},
	{Header: "DETAIL", Value: revoke.Summary},
}

// RevokeLogParams select audit log entries.
type RevokeLogParams struct {
	// All selects every entry, not only revocation (revoke.*) ones.
	All bool
	// PlanID selects that plan's entries only.
	PlanID string
}

// RevokeLog calls fn for the audit log entries p selects, oldest first.
func RevokeLog(ctx context.Context, env Env, p RevokeLogParams, fn func(store.AuditEntry) error) error {
	st, err := revokeStore(env)
	if err != nil {
		return err
	}
	return st.Audit(ctx, func(e store.AuditEntry) error {
		if !p.All && !strings.HasPrefix(e.Action, revoke.ActionPrefix) {
			return nil
		}
		if p.PlanID != "" {
			var d revoke.Detail
			_ = json.Unmarshal(e.Detail, &d)
			if d.PlanID != p.PlanID && e.Target != p.PlanID {
				return nil
			}
		}
		return fn(e)
	})
}

// SaveRevokePlan writes plan p to the file path, or to stdout when path
// is "" or "-" (guard.Save), and its summary for the approver to stdout
// when the plan went to a file, else to stderr.
func SaveRevokePlan(p *revoke.Plan, path string, stdout, stderr io.Writer) error {
	summary, err := guard.Save(p, path, stdout, stderr)
	if err != nil {
		return err
	}
	writeRevokePlanSummary(summary, p, path)
	return nil
}

// writeRevokePlanSummary writes plan p, saved at path ("-": not saved),
// for its approver, ending with the command that approves it. Every
// field comes from certificates, findings or a plan file, none of them
// trusted: each is passed through reports.Printable so no terminal
// escape reaches the approver's screen.
func writeRevokePlanSummary(w io.Writer, p *revoke.Plan, path string) {
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

// RevokeConfig is the config's "revoke:" section (see keyaudit revoke
// --help); Executor, Auth and Checks are plan defaults, the others
// defaults of execution, and AuditLogFile of every revoke command.
type RevokeConfig struct {
	ACMEDirectory  string   `yaml:"acme-directory" was:"acme_directory"`
	ACMECAFile     string   `yaml:"acme-ca-file" was:"acme_ca_file"`
	AccountKeyFile string   `yaml:"account-key-file" was:"account_key_file"`
	AccountKeyEnv  string   `yaml:"account-key-env" was:"account_key_env"`
	Executor       string   `yaml:"executor"`
	Auth           string   `yaml:"auth"`
	Checks         []string `yaml:"checks"`
	AuditLogFile   string   `yaml:"audit-log-file" was:"audit_log_file"`
	Hook           struct {
		Command []string      `yaml:"command"`
		Timeout time.Duration `yaml:"timeout"`
	} `yaml:"hook"`
}

// Plan returns o with what the flags left unset taken from c: the
// executor, the authorisation and the revocable checks.
func (c RevokeConfig) Plan(o revoke.PlanOptions) revoke.PlanOptions {
	o.Executor, o.Auth = cmp.Or(o.Executor, c.Executor), cmp.Or(o.Auth, c.Auth)
	if len(o.Checks) == 0 {
		o.Checks = c.Checks
	}
	return o
}

// Execute returns p with what the flags left unset taken from c: the
// ACME directory, CA file and account key, and the hook.
func (c RevokeConfig) Execute(p RevokeExecuteParams) RevokeExecuteParams {
	p.ACMEDirectory, p.ACMECAFile = cmp.Or(p.ACMEDirectory, c.ACMEDirectory), cmp.Or(p.ACMECAFile, c.ACMECAFile)
	p.AccountKeyFile, p.AccountKeyEnv = cmp.Or(p.AccountKeyFile, c.AccountKeyFile), cmp.Or(p.AccountKeyEnv, c.AccountKeyEnv)
	p.HookCommand, p.HookTimeout = c.Hook.Command, cmp.Or(p.HookTimeout, c.Hook.Timeout)
	return p
}
