package main

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/stage"
)

func init() {
	subcommands = append(subcommands, newDestroyCmd)
}

func newDestroyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Plan, approve, execute and verify key destruction (PKCS#11, KMIP, AWS KMS), with an audit trail",
		Long:  help("destroy"),
		Example: `  keyaudit destroy plan -o destroy.json
  keyaudit destroy approve destroy.json --approver alice --hash sha256:…
  keyaudit destroy execute destroy.json --apply`,
	}
	cmd.PersistentFlags().String("audit-log-file", "", "also append every audit entry, hash-chained, to this JSON lines file (default revoke.audit-log-file)")
	cmd.AddCommand(newDestroyPlanCmd(a), newDestroyApproveCmd(a), newDestroyExecuteCmd(a, false), newDestroyExecuteCmd(a, true))
	return cmd
}

func newDestroyPlanCmd(a *app) *cobra.Command {
	var p stage.DestroyPlanParams
	var output string
	var orphanedFor string
	var window int
	cmd := &cobra.Command{
		Use:   "plan [--ground G]... [--key REF|SPKI]... [-o plan.json]",
		Short: "Write a key destruction plan from the estate (orphaned, past cryptoperiod, compromised, or named keys)",
		Example: `  keyaudit destroy plan -o destroy.json
  keyaudit destroy plan --ground orphaned --orphaned-for 180d --source 'pkcs11:token=hsm1' -o destroy.json
  keyaudit destroy plan --key 9f86d081884c7d65… --aws-pending-window 30 --note CHG-1234`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := a.reconcileConfig()
			if err != nil {
				return err
			}
			p.Policy = rc.Policy
			if orphanedFor == "0" || orphanedFor == "0d" {
				p.Options.OrphanedFor = -1 // any orphan, however recent
			} else if orphanedFor != "" {
				d, err := inventory.ParsePeriod(orphanedFor)
				if err != nil {
					return withCode(exitError, fmt.Errorf("--orphaned-for: %w", err))
				}
				p.Options.OrphanedFor = d
			}
			p.Options.PendingWindow = time.Duration(window) * 24 * time.Hour
			return a.inRevokeStore(cmd, func(env stage.Env) error {
				plan, err := stage.DestroyPlan(cmd.Context(), env, p)
				if err != nil {
					return err
				}
				return stage.SaveDestroyPlan(plan, output, a.stdout, a.stderr)
			})
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&p.Options.Grounds, "ground", nil, "propose keys on this ground: orphaned, cryptoperiod, compromised (repeatable; default all three unless --key is given)")
	f.StringArrayVar(&p.Options.Keys, "key", nil, "also propose this key: an inventory ref or SPKI SHA-256 (repeatable)")
	f.StringArrayVar(&p.Options.Sources, "source", nil, "only keys of this inventory source (repeatable)")
	f.StringVar(&orphanedFor, "orphaned-for", "", "how long a key must have been orphaned (default 90d)")
	f.IntVar(&window, "aws-pending-window", 0, "AWS KMS waiting period in days, 7 to 30 (default 30)")
	f.StringVar(&p.Options.Note, "note", "", "free-text note for the approver (ticket, context)")
	f.StringVar(&p.Options.CreatedBy, "actor", "", "who creates the plan (default the OS user)")
	f.StringVarP(&output, "output", "o", "-", "plan file to write (- for stdout)")
	return cmd
}

func newDestroyApproveCmd(a *app) *cobra.Command {
	var p stage.RevokeApproveParams
	cmd := &cobra.Command{
		Use:     "approve PLAN --approver NAME --hash SHA256",
		Short:   "Approve a destruction plan: the approver's identity bound to the plan's exact hash",
		Example: `  keyaudit destroy approve destroy.json --approver alice --hash sha256:eeb6221941a34abd…`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Plan = args[0]
			if err := p.Validate(); err != nil {
				return withCode(exitError, err)
			}
			return a.inRevokeStore(cmd, func(env stage.Env) error {
				env.Stderr = a.stdout
				return stage.DestroyApprove(cmd.Context(), env, p)
			})
		},
	}
	cmd.Flags().StringVar(&p.Approver, "approver", "", "who approves (recorded in the audit log)")
	cmd.Flags().StringVar(&p.Hash, "hash", "", "the SHA-256 of the plan that was reviewed")
	return cmd
}

// newDestroyExecuteCmd builds "destroy execute", or with verify "destroy
// verify".
func newDestroyExecuteCmd(a *app, verify bool) *cobra.Command {
	var p stage.DestroyExecParams
	o := &inventoryOptions{}
	cmd := &cobra.Command{
		Use:   "execute PLAN [--apply]",
		Short: "Carry out an approved destruction plan (a dry run unless --apply), then verify",
		Example: `  keyaudit destroy execute destroy.json
  keyaudit destroy execute destroy.json --apply
  keyaudit destroy execute dp-20261203T183657Z-2e6f11d6 --apply --pkcs11 'pkcs11:token=hsm1?pin-source=file:/run/hsm1.pin'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rc, err := a.reconcileConfig()
			if err != nil {
				return err
			}
			p.Plan, p.Verify, p.Policy = args[0], verify, rc.Policy
			if p.Apply || verify {
				cfgOpts, err := a.inventoryOptionsFromConfig()
				if err != nil {
					return err
				}
				cfgOpts.PKCS11 = append(cfgOpts.PKCS11, o.PKCS11...)
				cfgOpts.Module = cmp.Or(o.Module, cfgOpts.Module)
				ip, closeAll, err := a.inventoryParams(cmd.Context(), cfgOpts)
				if err != nil {
					return err
				}
				defer closeAll()
				p.Sources = ip.Sources
			}
			var incomplete error
			if err := a.inRevokeStore(cmd, func(env stage.Env) error {
				_, err := stage.DestroyExecute(cmd.Context(), env, p, a.stdout)
				if errors.Is(err, stage.ErrDestroyIncomplete) {
					incomplete, err = err, nil
				}
				return err
			}); err != nil {
				return err
			}
			if incomplete != nil {
				return withCode(exitFindings, incomplete)
			}
			return nil
		},
	}
	f := cmd.Flags()
	if verify {
		cmd.Use, cmd.Short = "verify PLAN", "Read the sources of an executed plan again and record whether each key is gone"
		cmd.Example = "  keyaudit destroy verify destroy.json"
	} else {
		f.BoolVar(&p.Apply, "apply", false, "destroy for real (default: dry run)")
	}
	f.StringArrayVar(&o.PKCS11, "pkcs11", nil, "PKCS#11 URI of a token beyond inventory.sources (repeatable; PIN from pin-source or $KEYAUDIT_PKCS11_PIN)")
	f.StringVar(&o.Module, "pkcs11-module", "", "PKCS#11 library for URIs without module-path")
	return cmd
}
