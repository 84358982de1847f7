package caa

import (
	"errors"
	"fmt"

	"github.com/keyaudit/keyaudit/store/records"
)

// ErrorKind classifies why a CAA lookup failed. It is data in a Result,
// not a failure of the tool.
type ErrorKind = records.CAAErrorKind

// Error kinds of a Result.
const (
	KindTimeout   = records.CAATimeout   // no answer before the deadline
	KindServFail  = records.CAAServFail  // the resolver answered SERVFAIL
	KindRefused   = records.CAARefused   // the resolver answered REFUSED
	KindRcode     = records.CAARcode     // another error rcode (FORMERR, NOTIMP …)
	KindMalformed = records.CAAMalformed // an answer that does not parse or does not match the query
	KindOversized = records.CAAOversized // an answer beyond this package's limits
	KindAlias     = records.CAAAlias     // a CNAME loop or a chain longer than maxAliasHops
	KindNetwork   = records.CAANetwork   // the resolver could not be reached (ICMP unreachable, no route)
	KindCanceled  = records.CAACanceled  // the run was cancelled before the lookup ended
)

// Error is a failed lookup, as recorded in a Result.
type Error = records.CAAError

// LookupError is the Go error behind an Error: which query failed, how,
// and the underlying cause.
type LookupError struct {
	QName  string
	Kind   ErrorKind
	Server string // resolver that gave the last answer, when known
	Err    error
}

func (e *LookupError) Error() string {
	s := fmt.Sprintf("caa: lookup %s: %s", e.QName, e.Kind)
	if e.Server != "" {
		s += " from " + e.Server
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *LookupError) Unwrap() error { return e.Err }

// ErrInvalidName is returned for a name that cannot be looked up: not a
// domain name, an IP address, a wildcard not in the leftmost label.
var ErrInvalidName = errors.New("caa: invalid name")

// ParseError is an issue or issuewild value that does not match the RFC
// 8659 §4.2 grammar. Such a property restricts issuance but grants it to
// no CA.
type ParseError struct {
	Value  string
	Offset int // byte offset of the first character that does not fit
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("caa: value %q: at byte %d: %s", e.Value, e.Offset, e.Reason)
}

func toError(err error) *Error {
	if err == nil {
		return nil
	}
	var le *LookupError
	if errors.As(err, &le) {
		return &Error{Kind: le.Kind, Message: le.Error(), QName: le.QName}
	}
	return &Error{Kind: KindNetwork, Message: err.Error()}
}
