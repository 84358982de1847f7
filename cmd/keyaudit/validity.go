package main

import (
	"cmp"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/validity"
)

func init() { subcommands = append(subcommands, newValidityCmd) }

func newValidityCmd(a *app) *cobra.Command {
	s, format := &stage.ValiditySettings{}, new(string)
	cmd := &cobra.Command{
		Use:     "validity",
		Short:   "Check the chains the estate serves: trust, hostname, OCSP, CRL, stapling",
		Long:    help("validity"),
		Example: `  keyaudit validity --trust-bundle corp-root.pem --fetch-scope public --fetch-scope 10.20.0.0/16`,
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			_, err := a.validityParams(*s, false)
			return cmp.Or(err, checkFormat(*format))
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := a.validityParams(*s, true)
			if err != nil {
				return err
			}
			out, err := reports.NewStream(a.stdout, *format, reports.ValidityColumns)
			if err != nil {
				return withCode(exitError, err)
			}
			return runStage(cmd.Context(), a, out, func(env stage.Env, emit func(records.Validity) error) error {
				_, err := stage.Validity(cmd.Context(), env, p, emit)
				return err
			})
		},
	}
	registerValidity(cmd.Flags(), s)
	cmd.Flags().StringVar(format, "format", "table", "output format: table, jsonl, json, csv")
	return cmd
}

func registerValidity(f *pflag.FlagSet, s *stage.ValiditySettings) {
	f.StringArrayVar(&s.TrustBundles, "trust-bundle", nil, "PEM file of private trust anchors, added to the system roots (repeatable; config trust.bundles too)")
	f.StringArrayVar(&s.FetchScope, "fetch-scope", nil, `addresses certificate URLs may be fetched from: CIDRs or "public" (repeatable; default public unicast only)`)
	f.StringArrayVar(&s.Resolvers, "resolver", nil, "DNS server ip[:port] for the names in certificate URLs (repeatable; default the system's)")
	f.DurationVar(&s.Timeout, "fetch-timeout", validity.DefaultFetchTimeout, "deadline of one fetch (intermediate, OCSP, CRL)")
	f.Int64Var(&s.MaxCRLBytes, "max-crl-bytes", validity.DefaultMaxCRLBytes, "largest CRL read")
	f.Float64Var(&s.HostRate, "fetch-rate", validity.DefaultHostRate, "fetches per second to one host")
	f.BoolVar(&s.NoRevocation, "no-revocation", false, "fetch no OCSP answers or CRLs (stapled responses are still read)")
	f.StringVar(&s.Group, "run-group", "", "group name shared by related runs in the store")
}

// validityFromConfig returns the parameters keyaudit validity would run
// with from the config alone, for keyaudit audit.
func (a *app) validityFromConfig() (stage.ValidityParams, error) {
	var s stage.ValiditySettings
	fs := pflag.NewFlagSet("validity", pflag.ContinueOnError)
	registerValidity(fs, &s)
	if err := a.applySection(fs, "validity"); err != nil {
		return stage.ValidityParams{}, err
	}
	return a.validityParams(s, true)
}

// validityParams validates s with the config's trust.bundles before its
// own and its acme: section, and, when load is set, reads the bundles into the stage's params.
func (a *app) validityParams(s stage.ValiditySettings, load bool) (stage.ValidityParams, error) {
	var ts stage.TrustSection
	if err := cmp.Or(a.section("trust", &ts), a.section("acme", &s.ACME)); err != nil {
		return stage.ValidityParams{}, err
	}
	s.TrustBundles = append(append([]string{}, ts.Bundles...), s.TrustBundles...)
	if !load {
		return stage.ValidityParams{}, invalid(s.Check())
	}
	p, err := s.Params()
	return p, invalid(err)
}
