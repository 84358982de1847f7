package scanner

import (
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
)

// ErrorKind classifies why an endpoint yielded no chain.
type ErrorKind string

// Error kinds of the output contract.
const (
	KindTimeout   ErrorKind = "timeout"   // no answer before the endpoint's deadline
	KindRefused   ErrorKind = "refused"   // connection refused or unreachable
	KindReset     ErrorKind = "reset"     // connection reset by the peer
	KindHandshake ErrorKind = "handshake" // TLS failed: garbage, alert, closed, malformed
	KindSTARTTLS  ErrorKind = "starttls"  // the plaintext protocol did not upgrade
	KindDNS       ErrorKind = "dns"       // the name did not resolve
	KindScope     ErrorKind = "scope"     // outside --scope: never contacted
)

// ScanError is the error of one endpoint, as recorded.
type ScanError struct {
	Kind    ErrorKind `json:"kind"`
	Message string    `json:"message"`
}

func (e *ScanError) Error() string { return string(e.Kind) + ": " + e.Message }

// Observation is what one endpoint served (or why it served nothing).
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
	// ChainTruncated is set when the server sent more than maxChainCerts.
	ChainTruncated bool       `json:"chain_truncated,omitempty"`
	OCSPStapled    bool       `json:"ocsp_stapled"`
	SCTs           int        `json:"scts"`
	Error          *ScanError `json:"error"`
}

// Leaf returns the first certificate of the chain, if any.
func (o *Observation) Leaf() *certinfo.Cert {
	if len(o.Chain) == 0 {
		return nil
	}
	return &o.Chain[0]
}
