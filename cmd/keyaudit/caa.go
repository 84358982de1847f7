package main

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/scanner/caa"
	"github.com/keyaudit/keyaudit/stage"
)

type caaOptions struct {
	p       stage.CAAParams // the flags of the check; Names are the arguments
	format  string
	listCAs bool
}

// caaConfig is the structured part of the config's caa section.
type caaConfig struct {
	// CAs extend the built-in issuer → CAA identifier table; table is
	// the table they make.
	CAs   []reconcile.CA `yaml:"cas"`
	table *reconcile.CATable
}

func init() {
	knownSections["caa"] = map[string]bool{"cas": true}
	subcommands = append(subcommands, newCAACmd)
}

func newCAACmd(a *app) *cobra.Command {
	o := &caaOptions{}
	cmd := &cobra.Command{
		Use:   "caa [flags] NAME...",
		Short: "Find each name's relevant CAA records and decide which CAs may issue for it",
		Long:  help("caa"),
		Example: `  keyaudit caa example.com '*.example.com'
  keyaudit caa --format jsonl --no-store --resolver 127.0.0.1:5301 --ca letsencrypt.org --ca ca.example www.example.com
  keyaudit caa --ca letsencrypt.org --validation-method dns-01 --account-uri https://acme-v02.api.letsencrypt.org/acme/acct/1 example.com
  keyaudit caa --list-cas`,
		PreRunE: func(*cobra.Command, []string) error { return a.checkCAA(o) },
		RunE: func(cmd *cobra.Command, args []string) error {
			cc, watch, err := a.caaConfig()
			if err != nil {
				return err
			}
			return a.runCAA(cmd.Context(), o, cc, append(watch, args...))
		},
	}
	o.register(cmd.Flags())
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// register defines the flags of keyaudit caa on f, bound to o.
func (o *caaOptions) register(f *pflag.FlagSet) {
	f.StringArrayVar(&o.p.CAs, "ca", nil, "CA identifier (issuer-domain-name, e.g. letsencrypt.org) to decide for (repeatable)")
	f.StringArrayVar(&o.p.Config.Resolvers, "resolver", nil, "DNS resolver ip[:port], optionally udp: or tcp: prefixed (repeatable; default: the system's)")
	f.StringVar(&o.format, "format", "table", "output format: table, jsonl, json, csv")
	f.IntVar(&o.p.Config.Concurrency, "concurrency", 16, "names looked up at once")
	f.DurationVar(&o.p.Config.Timeout, "timeout", 5*time.Second, "deadline for one DNS query attempt")
	f.IntVar(&o.p.Config.Attempts, "attempts", 2, "attempts per DNS query before the name's lookup fails")
	f.BoolVar(&o.p.Config.DNSSEC, "dnssec", false, "ask the resolver to authenticate answers (AD and DO bits) and record whether it did")
	f.StringVar(&o.p.AccountURI, "account-uri", "", "ACME account URI to check accounturi parameters against (RFC 8657)")
	f.StringVar(&o.p.ValidationMethod, "validation-method", "", "ACME validation method (dns-01, http-01, tls-alpn-01 …) to check validationmethods against (RFC 8657)")
	f.BoolVar(&o.listCAs, "list-cas", false, "print the issuer → CAA identifier table (built-in and caa.cas from the config) and exit")
	f.StringVar(&o.p.Group, "run-group", "", "group name shared by related runs in the store")
}

func (a *app) runCAA(ctx context.Context, o *caaOptions, cc caaConfig, rawNames []string) error {
	if o.listCAs {
		out, err := reports.NewStream(a.stdout, o.format, reports.CATableColumns)
		if err != nil {
			return withCode(exitError, err)
		}
		return writeAll(out, cc.table.All())
	}
	p, err := a.caaParams(o, cc, rawNames)
	if err != nil {
		return err
	}
	cols := reports.CAANameColumns
	if len(p.CAs) > 0 {
		cols = reports.CAACAColumns
	}
	out, err := reports.NewStream(a.stdout, o.format, cols)
	if err != nil {
		return withCode(exitError, err)
	}
	return runStage(ctx, a, out, func(env stage.Env, emit func(caa.Result) error) error {
		_, err := stage.CAA(ctx, env, p, emit)
		return err
	})
}

// checkCAA validates o, the config's caa section and its watch list as
// caaParams does, names not required (they may come as arguments).
func (a *app) checkCAA(o *caaOptions) error {
	_, watch, err := a.caaConfig()
	if err == nil {
		err = invalid(caa.Query{Names: watch, CAs: o.p.CAs, Config: o.p.Config}.CheckSettings())
	}
	return cmp.Or(err, checkFormat(o.format))
}

// caaParams validates o, the config's caa section cc and the names
// (NAME arguments after the config's watch list) and returns the CAA
// stage's parameters: names normalised and each once, CAs as
// issuer-domain-names. Nothing is queried; an invalid setting or name is
// exit 2. keyaudit audit calls it with the options read from the config
// (caaOptionsFromConfig) and the names it decided.
func (a *app) caaParams(o *caaOptions, cc caaConfig, rawNames []string) (stage.CAAParams, error) {
	p := o.p
	p.Config.Logger = a.log
	q, err := caa.Query{Names: rawNames, CAs: p.CAs, Config: p.Config}.Check()
	if err != nil {
		return stage.CAAParams{}, withCode(exitError, err)
	}
	p.Names, p.CAs, p.Config = q.Names, q.CAs, q.Config
	return p, nil
}

// caaOptionsFromConfig returns what `keyaudit caa` would run with from
// the config alone: its options (the flags' defaults, the config's caa
// section over them), the caa section's structured part, and the
// config's watch list. keyaudit audit passes them to caaParams.
func (a *app) caaOptionsFromConfig() (*caaOptions, caaConfig, []string, error) {
	o := &caaOptions{}
	fs := pflag.NewFlagSet("caa", pflag.ContinueOnError)
	o.register(fs)
	if err := a.applySection(fs, "caa"); err != nil {
		return nil, caaConfig{}, nil, err
	}
	cc, watch, err := a.caaConfig()
	return o, cc, watch, err
}

// caaConfig reads the config's caa section (its structured part, the
// issuer → CAA identifier table built: exit 2 when caa.cas is invalid)
// and its watch list.
func (a *app) caaConfig() (caaConfig, []string, error) {
	var watch []string
	var cc caaConfig
	if err := a.section("watch", &watch); err != nil {
		return caaConfig{}, nil, err
	}
	if err := a.section("caa", &cc); err != nil {
		return caaConfig{}, nil, err
	}
	table, err := reconcile.NewCATable(cc.CAs)
	if err != nil {
		return caaConfig{}, nil, withCode(exitError, fmt.Errorf("config caa.cas: %w", err))
	}
	cc.table = table
	return cc, watch, nil
}
