package caa

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Query is a CAA check as keyaudit caa and keyaudit audit are asked for
// it: the names to look up, the CAs to decide for and the checker's
// settings, as the command line and the config file give them. Check
// validates it before anything is queried.
type Query struct {
	// Names are the names to look up, as NormalizeName reads them (NAME
	// arguments after the config's watch list).
	Names []string
	// CAs are the CA identifiers to decide for (--ca): issuer-domain-names
	// as an issue property names them, such as letsencrypt.org.
	CAs []string
	// Config configures the checker. Its Timeout, Attempts and
	// Concurrency must be set (--timeout, --attempts, --concurrency):
	// here zero is a mistake, not a request for the default.
	Config Config
}

// Check validates q and returns it normalised: Names as LookupNames and
// CAs as ParseIssuers return them. An empty list of names, an unset
// limit and a Config New refuses are errors too.
func (q Query) Check() (Query, error) {
	out, err := q.check()
	if err == nil && len(out.Names) == 0 {
		err = errors.New("no names: give NAME arguments or a watch: list in the config")
	}
	if err != nil {
		return Query{}, err
	}
	return out, nil
}

// CheckSettings validates q as Check does, but accepts a Query without
// names (they are given later, as arguments): keyaudit config check runs
// it on the caa section.
func (q Query) CheckSettings() error {
	_, err := q.check()
	return err
}

func (q Query) check() (Query, error) {
	cas, err := ParseIssuers(q.CAs)
	if err != nil {
		return Query{}, fmt.Errorf("--ca %w", err)
	}
	names, err := LookupNames(q.Names)
	if err != nil {
		return Query{}, err
	}
	c := q.Config
	if c.Concurrency < 1 || c.Attempts < 1 || c.Timeout <= 0 {
		return Query{}, errors.New("--concurrency, --attempts and --timeout must be positive")
	}
	if _, err := New(c); err != nil { // validates the resolvers
		return Query{}, err
	}
	return Query{Names: names, CAs: cas, Config: c}, nil
}

// LookupNames checks names to look up, each as NormalizeName reads it,
// and returns them without the trailing dot ("example.com",
// "*.example.com"), each once, in the order first given. The first name
// NormalizeName refuses is the error.
func LookupNames(names []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		fqdn, wild, err := NormalizeName(n)
		if err != nil {
			return nil, err
		}
		key := strings.TrimSuffix(fqdn, ".")
		if wild {
			key = "*." + key
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, key)
		}
	}
	return out, nil
}

// ParseIssuers reads CA identifiers, each an issuer-domain-name as an
// issue property names a CA (letsencrypt.org, without parameters), and
// returns them lower-cased, each once, in the order first given. The
// error names the first that is not one: `"x y": not an
// issuer-domain-name …`.
func ParseIssuers(ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		v, err := ParseIssueValue(id)
		if err != nil || v.IssuerDomainName == "" || len(v.Params) > 0 {
			return nil, fmt.Errorf("%q: not an issuer-domain-name (such as letsencrypt.org)", id)
		}
		if !slices.Contains(out, v.IssuerDomainName) {
			out = append(out, v.IssuerDomainName)
		}
	}
	return out, nil
}
