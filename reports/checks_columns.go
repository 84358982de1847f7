package reports

import (
	"slices"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

// RuleColumns are the table and CSV columns of the registered checks
// (keyaudit checks list).
var RuleColumns = []Column[Rule]{
	{Header: "ID", Value: func(r Rule) string { return r.ID }},
	{Header: "SEVERITY", Value: func(r Rule) string { return string(r.Severity) }},
	{Header: "DESCRIPTION", Value: func(r Rule) string { return r.Description }},
	{Header: "CITATIONS", Value: func(r Rule) string { return strings.Join(r.Citations, "; ") }},
}

// RulesBySeverity is RulesFromChecks ordered most severe first, then by
// ID.
func RulesBySeverity(cs []*reconcile.Check) []Rule {
	rules := RulesFromChecks(cs)
	slices.SortStableFunc(rules, func(a, b Rule) int { return b.Severity.Rank() - a.Severity.Rank() })
	return rules
}
