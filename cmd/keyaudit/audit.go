package main

import (
	"cmp"
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
)

type auditOptions struct {
	failOn        string
	reports       []string // FORMAT=PATH, from --report
	configReports []string // the config's audit.reports, FORMAT=PATH
	stages        []string
	format        string
}

func init() {
	knownSections["audit"] = map[string]bool{"reports": true, "stages": true}
	subcommands = append(subcommands, newAuditCmd)
}

func newAuditCmd(a *app) *cobra.Command {
	o := &auditOptions{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Run the whole audit: inventory, scan, CT sync, CAA, reconcile, reports",
		Long: `Run every configured stage in order — inventory, scan, ct sync (bounded
catch-up), caa (for the watched domains and every watched name a certificate
was seen for), validity (validity: or trust: in the config), reconcile — then write the configured reports, and exit per
--fail-on. Each stage runs exactly as its keyaudit command would with the
same config (the same stage functions); a stage runs when its config section exists (inventory:, scan:
with targets, caa: or watch:, ct:). Each stage's outcome (complete, partial,
failed, skipped) is recorded in an "audit" run; a failed stage makes the
audit partial and its exit code 2, never silently clean.

Reports: audit.reports in the config, or --report FORMAT=PATH (repeatable),
e.g. --report html=audit.html --report sarif=keyaudit.sarif.

Exit codes: 0 nothing unsuppressed at or above --fail-on; 1 findings at or
above it; 2 a stage failed or the audit could not run.`,
		Example: `  keyaudit audit --config keyaudit.yaml
  keyaudit audit --config keyaudit.yaml --fail-on critical --report sarif=keyaudit.sarif`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			var ac stage.AuditSection
			if err := a.section("audit", &ac); err != nil {
				return err
			}
			o.configReports = ac.ReportValues()
			if len(o.stages) == 0 {
				o.stages = ac.Stages
			}
			_, err := stage.SelectStages(nil, o.stages)
			if err == nil {
				_, err = stage.AuditReports(o.configReports, o.reports)
			}
			return cmp.Or(checkFailOn(o.failOn), invalid(err), checkFormat(o.format))
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runAudit(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.failOn, "fail-on", "high", "exit 1 when an unsuppressed finding is at or above this severity (critical, high, medium, low, info, none)")
	f.StringArrayVar(&o.reports, "report", nil, "write a report: FORMAT=PATH (repeatable; formats of keyaudit report)")
	f.StringSliceVar(&o.stages, "stages", nil, "run only these stages (inventory, scan, ct, caa, validity)")
	f.StringVar(&o.format, "format", "table", "format of the findings printed at the end: table, jsonl, json, csv")
	return cmd
}

// auditPlan builds the audit's stages from the config (and --stages).
func (a *app) auditPlan(o *auditOptions) (stage.AuditPlan, error) {
	var p stage.AuditPlan
	has := func(k string) bool { _, ok := a.config[k]; return ok }
	skips, err := stage.SelectStages(map[string]bool{"inventory": has("inventory"), "scan": has("scan"), "ct": has("ct"), "caa": has("caa") || has("watch"),
		"validity": has("validity") || has("trust") || has("acme")}, o.stages)
	if err != nil {
		return p, withCode(exitError, err)
	}
	skip := func(name string) string { return skips[name] }
	inv := stage.AuditStep{Name: "inventory", Skip: skip("inventory")}
	if inv.Skip == "" {
		iopts, err := a.inventoryOptionsFromConfig()
		if err != nil {
			return p, err
		}
		// Sources are opened when the stage runs: an HSM that cannot be
		// reached fails this stage, not the scan and CT stages.
		inv.Run = func(ctx context.Context, env stage.Env, _ []stage.Outcome) (stage.Outcome, error) {
			ip, closeSources, err := a.inventoryParams(ctx, iopts)
			if err != nil {
				return stage.Outcome{}, err
			}
			defer closeSources()
			return stage.Inventory(ctx, env, ip, nil)
		}
	}
	p.Steps = append(p.Steps, inv)

	scan := stage.AuditStep{Name: "scan", Skip: skip("scan")}
	if scan.Skip == "" {
		so, err := a.scanOptionsFromConfig()
		if err != nil {
			return p, err
		}
		sp, err := a.scanParams(so, nil)
		if err != nil {
			return p, err
		}
		scan.Run = func(ctx context.Context, env stage.Env, _ []stage.Outcome) (stage.Outcome, error) {
			return stage.Scan(ctx, env, sp, nil)
		}
	}
	ct := stage.AuditStep{Name: "ct", Skip: skip("ct")}
	if ct.Skip == "" {
		co, cc, watch, err := a.ctOptionsFromConfig()
		if err != nil {
			return p, err
		}
		cp, err := a.ctParams(co, cc, watch)
		if err != nil {
			return p, err
		}
		ct.Run = func(ctx context.Context, env stage.Env, _ []stage.Outcome) (stage.Outcome, error) {
			return stage.CTSync(ctx, env, cp, nil)
		}
	}
	p.Steps = append(p.Steps, scan, ct)

	cs := stage.AuditStep{Name: "caa", Skip: skip("caa")}
	if cs.Skip == "" {
		co, cc, watch, err := a.caaOptionsFromConfig()
		if err != nil {
			return p, err
		}
		if _, err := a.caaParams(co, cc, watch); err != nil { // validate before anything runs
			return p, err
		}
		cs.Run = func(ctx context.Context, env stage.Env, before []stage.Outcome) (stage.Outcome, error) {
			names, err := stage.SeenNames(ctx, env.Store, watch, before)
			if err != nil {
				return stage.Outcome{}, err
			}
			cp, err := a.caaParams(co, cc, append(append([]string{}, watch...), names...))
			if err != nil {
				return stage.Outcome{}, err
			}
			return stage.CAA(ctx, env, cp, nil)
		}
	}
	vs := stage.AuditStep{Name: "validity", Skip: skip("validity")}
	if vs.Skip == "" {
		vp, err := a.validityFromConfig()
		if err != nil {
			return p, err
		}
		vs.Run = func(ctx context.Context, env stage.Env, _ []stage.Outcome) (stage.Outcome, error) {
			return stage.Validity(ctx, env, vp, nil)
		}
	}
	p.Steps = append(p.Steps, cs, vs)

	cfg, err := a.reconcileConfig()
	if err != nil {
		return p, err
	}
	if p.Reconcile, err = a.reconcileParams(&reconcileOptions{}, cfg); err != nil {
		return p, err
	}
	if p.Reconcile.Router != nil {
		p.Notify = a.notifySender(p.Reconcile.Router)
	}
	if p.Reports, err = stage.AuditReports(o.configReports, o.reports); err != nil {
		return p, withCode(exitError, err)
	}
	p.Tool = reports.Tool{Name: "keyaudit", Version: toolVersion()}
	p.Meta = map[string]any{"config": a.configPath, "stages": o.stages}
	return p, nil
}

func (a *app) runAudit(ctx context.Context, o *auditOptions) error {
	threshold, err := parseFailOn(o.failOn)
	if err != nil {
		return err
	}
	plan, err := a.auditPlan(o)
	if err != nil {
		return err
	}
	plan.ReportOptions = reports.Options{FailOn: threshold.Severity(), Locate: stage.ConfigLocator(a.configPath, a.config)}
	out, err := reports.NewFindingStream(a.stdout, o.format, reports.WithDetails(a.verbose))
	if err != nil {
		return withCode(exitError, err)
	}
	st, err := a.needStore(ctx, "audit records every stage in the store", false)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := stage.Audit(ctx, a.stageEnv(st), plan)
	if err != nil {
		return withCode(exitError, err)
	}
	if o.format == "table" {
		if err := res.WriteTable(a.stdout); err != nil {
			return withCode(exitError, err)
		}
	}
	for _, f := range res.Findings {
		if err := out.Write(f); err != nil {
			return withCode(exitError, err)
		}
	}
	if err := invalid(out.Close()); err != nil {
		return err
	}
	for _, w := range res.Written {
		fmt.Fprintf(a.stderr, "keyaudit: audit: wrote %s\n", w)
	}
	if res.Failed {
		return withCode(exitError, fmt.Errorf("audit run %d is partial: a stage failed", res.RunID))
	}
	return threshold.exit(res.Findings)
}
