package reports

import (
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/store/records"
)

// KeyColumns are the table columns of an inventory's keys.
var KeyColumns = []Column[records.Key]{
	{Header: "SOURCE", Value: func(k records.Key) string { return k.Source }},
	{Header: "TOKEN", Value: func(k records.Key) string { return k.Token }},
	{Header: "LABEL", Value: func(k records.Key) string { return k.Label }},
	{Header: "ID", Value: func(k records.Key) string { return k.ID }},
	{Header: "CLASS", Value: func(k records.Key) string { return string(k.Class) }},
	{Header: "KEY", Value: keySummary},
	{Header: "SPKI SHA-256", Value: func(k records.Key) string {
		if len(k.SPKISHA256) >= 16 {
			return k.SPKISHA256[:16]
		}
		return "-"
	}},
	{Header: "FLAGS", Value: keyFlags},
	{Header: "USAGE", Value: usage},
	{Header: "END", Value: func(k records.Key) string { return formatPtr(k.EndDate, time.DateOnly) }},
	{Header: "OWNER", Value: func(k records.Key) string { return k.Owner }},
}

// KeyCSVColumns are the CSV columns of an inventory's keys: every field
// of the output contract.
var KeyCSVColumns = []Column[records.Key]{
	{Header: "source", Value: func(k records.Key) string { return k.Source }},
	{Header: "token", Value: func(k records.Key) string { return k.Token }},
	{Header: "token_serial", Value: func(k records.Key) string { return k.TokenSerial }},
	{Header: "label", Value: func(k records.Key) string { return k.Label }},
	{Header: "id", Value: func(k records.Key) string { return k.ID }},
	{Header: "class", Value: func(k records.Key) string { return string(k.Class) }},
	{Header: "key_type", Value: func(k records.Key) string { return k.KeyType }},
	{Header: "key_bits", Value: func(k records.Key) string { return strconv.Itoa(k.KeyBits) }},
	{Header: "curve", Value: func(k records.Key) string { return k.Curve }},
	{Header: "spki_sha256", Value: func(k records.Key) string { return k.SPKISHA256 }},
	{Header: "spki_source", Value: func(k records.Key) string { return k.SPKISource }},
	{Header: "sensitive", Value: func(k records.Key) string { return flagOr(k.Sensitive, "") }},
	{Header: "extractable", Value: func(k records.Key) string { return flagOr(k.Extractable, "") }},
	{Header: "always_sensitive", Value: func(k records.Key) string { return flagOr(k.AlwaysSensitive, "") }},
	{Header: "never_extractable", Value: func(k records.Key) string { return flagOr(k.NeverExtractable, "") }},
	{Header: "local", Value: func(k records.Key) string { return flagOr(k.Local, "") }},
	{Header: "usage", Value: func(k records.Key) string { return strings.Join(k.Usage, " ") }},
	{Header: "start_date", Value: func(k records.Key) string { return formatPtr(k.StartDate, time.RFC3339) }},
	{Header: "end_date", Value: func(k records.Key) string { return formatPtr(k.EndDate, time.RFC3339) }},
	{Header: "kcv", Value: func(k records.Key) string { return k.KCV }},
	{Header: "owner", Value: func(k records.Key) string { return k.Owner }},
	{Header: "purpose", Value: func(k records.Key) string { return k.Purpose }},
	{Header: "cryptoperiod", Value: func(k records.Key) string { return k.Cryptoperiod }},
	{Header: "cert_sha256", Value: func(k records.Key) string { return k.CertSHA256 }},
	{Header: "subject", Value: func(k records.Key) string { return k.Subject }},
	{Header: "uri", Value: func(k records.Key) string { return k.URI }},
	{Header: "path", Value: func(k records.Key) string { return k.Path }},
	{Header: "id_mismatch", Value: func(k records.Key) string { return strconv.FormatBool(k.IDMismatch) }},
	{Header: "notes", Value: func(k records.Key) string { return strings.Join(k.Notes, "; ") }},
	{Header: "ref", Value: func(k records.Key) string { return k.Ref }},
}

// keySummary is a key's type with its curve or size: "RSA 2048",
// "EC P-256".
func keySummary(k records.Key) string {
	switch {
	case k.Curve != "" && k.Curve != k.KeyType:
		return k.KeyType + " " + k.Curve
	case k.KeyBits > 0 && k.Curve == "":
		return k.KeyType + " " + strconv.Itoa(k.KeyBits)
	}
	return k.KeyType
}

// keyFlags lists the attributes set on a key worth a glance: sensitive,
// extractable, local, id-mismatch.
func keyFlags(k records.Key) string {
	var f []string
	if k.Sensitive != nil && *k.Sensitive {
		f = append(f, "sensitive")
	}
	if k.Extractable != nil && *k.Extractable {
		f = append(f, "extractable")
	}
	if k.Local != nil && *k.Local {
		f = append(f, "local")
	}
	if k.IDMismatch {
		f = append(f, "id-mismatch")
	}
	return strings.Join(f, ",")
}

// formatPtr formats *t in layout as it is (no zone conversion); nil is "".
func formatPtr(t *time.Time, layout string) string {
	if t == nil {
		return ""
	}
	return t.Format(layout)
}
