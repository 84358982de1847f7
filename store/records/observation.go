package records

import (
	"encoding/json"
	"net"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
)

// ScanErrorKind classifies why an endpoint yielded no chain.
type ScanErrorKind string

// Error kinds of a scan observation (the scanner's output contract).
const (
	ScanTimeout   ScanErrorKind = "timeout"   // no answer before the endpoint's deadline
	ScanRefused   ScanErrorKind = "refused"   // connection refused or unreachable
	ScanReset     ScanErrorKind = "reset"     // connection reset by the peer
	ScanHandshake ScanErrorKind = "handshake" // TLS failed: garbage, alert, closed, malformed
	ScanSTARTTLS  ScanErrorKind = "starttls"  // the plaintext protocol did not upgrade
	ScanDNS       ScanErrorKind = "dns"       // the name did not resolve
	ScanScope     ScanErrorKind = "scope"     // outside --scope: never contacted
	// ScanCancelled: the scan was stopped (Ctrl-C, SIGTERM) before the
	// endpoint answered; says nothing about the endpoint.
	ScanCancelled ScanErrorKind = "cancelled"
)

// ScanError is the error of one endpoint, as recorded.
type ScanError struct {
	Kind    ScanErrorKind `json:"kind"`
	Message string        `json:"message"`
}

func (e *ScanError) Error() string { return string(e.Kind) + ": " + e.Message }

// Observation is what one endpoint served (or why it served nothing): one
// line of `keyaudit scan --format jsonl` and one store.KindObservation
// item.
type Observation struct {
	Target      string          `json:"target"`
	Host        string          `json:"host"`
	IP          string          `json:"ip"`
	Port        int             `json:"port"`
	SNI         string          `json:"sni"`
	Protocol    string          `json:"protocol"`
	TLSVersion  string          `json:"tls_version"`
	CipherSuite string          `json:"cipher_suite"`
	Group       string          `json:"group"` // negotiated key-exchange group, e.g. X25519MLKEM768
	Time        time.Time       `json:"time"`
	DurationMS  float64         `json:"duration_ms"`
	Chain       []certinfo.Cert `json:"chain"`
	// ChainTruncated is set when the server sent more than the scanner's
	// chain limit.
	ChainTruncated bool `json:"chain_truncated,omitempty"`
	OCSPStapled    bool `json:"ocsp_stapled"`
	// OCSPResponse is the stapled OCSP response as served (DER), for the
	// validity stage to verify; absent when none was stapled.
	OCSPResponse []byte     `json:"ocsp_response,omitempty"`
	SCTs         int        `json:"scts"`
	Error        *ScanError `json:"error"`

	// The JSON of its store item, once stored (UseEncoding): a scan
	// encodes every observation for the store, and encoding it again for
	// the output was a few per cent of a scan's CPU.
	storedJSON
}

// AppendJSON appends o as json.Marshal encodes it (the remembered
// encoding, if any).
func (o *Observation) AppendJSON(b []byte) ([]byte, error) {
	if enc, ok := o.stored(); ok {
		return append(b, enc...), nil
	}
	enc, err := json.Marshal(o)
	if err != nil {
		return b, err
	}
	return append(b, enc...), nil
}

// Leaf returns the first certificate of the chain, if any.
func (o *Observation) Leaf() *certinfo.Cert {
	if len(o.Chain) == 0 {
		return nil
	}
	return &o.Chain[0]
}

// ExtraSNI is the name sent as SNI when it is not the target's own host
// (an "IP, NAME" target): part of the endpoint's identity. Empty
// otherwise.
func (o *Observation) ExtraSNI() string {
	host := o.Target
	if h, _, err := net.SplitHostPort(o.Target); err == nil {
		host = h
	}
	if o.SNI == "" || strings.EqualFold(o.SNI, host) {
		return ""
	}
	return o.SNI
}
