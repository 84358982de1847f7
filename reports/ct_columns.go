package reports

import (
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/store/records"
)

// SightingColumns are the table and CSV columns of CT sightings
// (keyaudit ct sync and ct watch).
var SightingColumns = []Column[records.Sighting]{
	{Header: "LOG", Value: func(s records.Sighting) string { return s.Log }},
	{Header: "INDEX", Value: func(s records.Sighting) string { return strconv.FormatUint(s.Index, 10) }},
	{Header: "TIMESTAMP", Value: func(s records.Sighting) string { return s.Timestamp.Format(time.RFC3339) }},
	{Header: "PRECERT", Value: func(s records.Sighting) string { return strconv.FormatBool(s.Precert) }},
	{Header: "NAMES", Value: func(s records.Sighting) string { return strings.Join(s.Names, " ") }},
	{Header: "ISSUER", Value: func(s records.Sighting) string { return s.Issuer }},
	{Header: "CERT SHA256", Value: func(s records.Sighting) string { return s.CertSHA256 }},
	{Header: "SPKI SHA256", Value: func(s records.Sighting) string { return s.SPKISHA256 }},
}
