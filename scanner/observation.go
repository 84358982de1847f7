package scanner

import "github.com/keyaudit/keyaudit/store/records"

// The observation record and its error live in store/records, with the
// other stored records; these names keep the scanner's API.

// ErrorKind classifies why an endpoint yielded no chain.
type ErrorKind = records.ScanErrorKind

// Error kinds of the output contract.
const (
	KindTimeout   = records.ScanTimeout
	KindRefused   = records.ScanRefused
	KindReset     = records.ScanReset
	KindHandshake = records.ScanHandshake
	KindSTARTTLS  = records.ScanSTARTTLS
	KindDNS       = records.ScanDNS
	KindScope     = records.ScanScope
	KindCancelled = records.ScanCancelled
)

// ScanError is the error of one endpoint, as recorded.
type ScanError = records.ScanError

// Observation is what one endpoint served (or why it served nothing).
type Observation = records.Observation
