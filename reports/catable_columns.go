package reports

import (
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

// CATableColumns are the table and CSV columns of the issuer → CAA
// identifier table (keyaudit caa --list-cas).
var CATableColumns = []Column[reconcile.CA]{
	{Header: "CA", Value: func(c reconcile.CA) string { return c.Name }},
	{Header: "ISSUER ORGANISATIONS", Value: func(c reconcile.CA) string { return strings.Join(c.Organizations, "; ") }},
	{Header: "CAA IDENTIFIERS", Value: func(c reconcile.CA) string { return strings.Join(c.Identifiers, " ") }},
	{Header: "SOURCE", Value: func(c reconcile.CA) string { return c.Source }},
}
