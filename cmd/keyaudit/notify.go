package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/notify"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
)

func init() {
	// The notify: section is the routing configuration, read by every
	// command that reconciles or sends; it sets no flag of keyaudit notify.
	knownSections["notify"] = map[string]bool{"sinks": true, "routes": true, "max-attempts": true, "lease": true}
	subcommands = append(subcommands, newNotifyCmd)
}

// notifyConfig reads the config's owners and notify sections (strictly:
// a misspelt key must not silently drop a route) and builds their router
// (nil without a notify section).
func (a *app) notifyConfig() ([]notify.Owner, *notify.Router, error) {
	var owners []notify.Owner
	var nc notify.Config
	bad := func(err error) error {
		return withCode(exitError, fmt.Errorf("config %s: %s", a.configPath, strings.Join(strings.Fields(err.Error()), " ")))
	}
	if node, ok := a.config["owners"]; ok {
		if err := config.StrictDecode(node, &owners); err != nil {
			return nil, nil, bad(fmt.Errorf("owners: %w", err))
		}
	}
	node, ok := a.config["notify"]
	if !ok {
		return owners, nil, invalid(notify.CheckOwners(owners))
	}
	if err := config.StrictDecode(node, &nc); err != nil {
		return nil, nil, bad(fmt.Errorf("notify: %w", err))
	}
	r, err := notify.NewRouter(nc, owners)
	if err != nil {
		return nil, nil, bad(err)
	}
	return owners, r, nil
}

func (a *app) notifySender(r *notify.Router) *notify.Sender {
	return &notify.Sender{Router: r, Deliverer: &notify.Deliverer{Secrets: a.secrets()}, Log: a.log}
}

func newNotifyCmd(a *app) *cobra.Command {
	// run sends what is due; with route set it first enqueues a sample
	// event for that route.
	run := func(cmd *cobra.Command, route string) error {
		_, r, err := a.notifyConfig()
		if err != nil {
			return err
		}
		if r == nil {
			return withCode(exitError, fmt.Errorf("no notify section in %s: nothing routes notifications", a.configPath))
		}
		st, err := a.needStore(cmd.Context(), "notifications wait in the store's outbox", false)
		if err != nil {
			return err
		}
		defer st.Close()
		if route != "" {
			ns, err := r.Test(route, time.Now())
			if err != nil {
				return withCode(exitError, err)
			}
			if _, err := st.EnqueueNotifications(cmd.Context(), ns); err != nil {
				return withCode(exitError, err)
			}
		}
		res, err := stage.Notify(cmd.Context(), stage.Env{Store: st, Stderr: a.stderr, Log: a.log}, a.notifySender(r))
		fmt.Fprintf(a.stdout, "%d sent, %d failed\n", res.Sent, res.Failed)
		if err != nil {
			return withCode(exitError, err)
		}
		if res.Failed > 0 {
			return withCode(exitFindings, fmt.Errorf("%d notifications failed: they stay in the outbox and are retried", res.Failed))
		}
		return nil
	}
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Send the notifications waiting in the outbox (retries included)",
		Long: `Send every notification due in the store's outbox: those the last reconciles
recorded (keyaudit audit sends them itself at its end) and earlier failures
whose retry time has come. Exit 0 when all were delivered, 1 when some failed
(they stay in the outbox, retried with backoff; notification-failed reports
sinks that keep failing), 2 when it could not run.`,
		Example: `  keyaudit --config keyaudit.yaml notify
  keyaudit --config keyaudit.yaml notify test --route web
  keyaudit --config keyaudit.yaml notify list --status pending`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd, "") },
	}
	var route string
	test := &cobra.Command{
		Use:     "test --route NAME",
		Short:   "Send a sample event to every sink of a route",
		Example: "  keyaudit --config keyaudit.yaml notify test --route web",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if route == "" {
				return withCode(exitError, fmt.Errorf("--route is required"))
			}
			return run(cmd, route)
		},
	}
	test.Flags().StringVar(&route, "route", "", "the route (notify.routes[].name) to test")
	var status, format string
	list := &cobra.Command{
		Use:     "list [--status pending|sent]",
		Short:   "List the outbox's notifications",
		Example: "  keyaudit --config keyaudit.yaml notify list --status pending --format jsonl",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := reports.NewStream(a.stdout, format, stage.NotificationColumns)
			if err != nil {
				return withCode(exitError, err)
			}
			st, err := a.needStore(cmd.Context(), "notifications wait in the store's outbox", true)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Notifications(cmd.Context(), store.NotificationFilter{Status: status}, out.Write); err != nil {
				return withCode(exitError, err)
			}
			return out.Close()
		},
	}
	list.Flags().StringVar(&status, "status", "", "pending or sent (default both)")
	list.Flags().StringVar(&format, "format", "table", "output format: table, jsonl, json, csv")
	cmd.AddCommand(test, list)
	return cmd
}
