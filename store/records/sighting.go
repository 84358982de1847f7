package records

import (
	"strconv"
	"time"
)

// Sighting is a CT log entry whose certificate or precertificate names a
// watched domain: one store.KindSighting item.
type Sighting struct {
	Log   string `json:"log"`
	LogID string `json:"log_id"`
	Index uint64 `json:"index"`
	// Timestamp is the entry's log timestamp.
	Timestamp time.Time `json:"timestamp"`
	// CertSHA256 is the SHA-256 of the certificate, or of the
	// precertificate (empty when the log's unsigned precertificate does
	// not match the signed TBS).
	CertSHA256 string `json:"cert_sha256"`
	SPKISHA256 string `json:"spki_sha256"`
	Issuer     string `json:"issuer"`
	// Names are all DNS names of the certificate (SAN and CN), normalised.
	Names []string `json:"names"`
	// Matched are the watch entries the names fell under.
	Matched []string `json:"matched"`
	// NULNames are SAN or CN values holding a NUL byte, as found (they
	// are not DNS names, so not in Names), whose part before the NUL is a
	// watched name: what a client stopping at the NUL takes for that name
	// (the null-prefix attack, CVE-2009-2408). Such a certificate is a
	// finding whatever its key and issuer.
	NULNames []string `json:"nul_names,omitempty"`
	Precert  bool     `json:"precert"`
	// TBSSHA256 is the dedup key: SHA-256 of the TBSCertificate without
	// the poison and SCT list extensions, shared by a precertificate and
	// its certificate.
	TBSSHA256    string    `json:"tbs_sha256"`
	Subject      string    `json:"subject,omitempty"`
	Serial       string    `json:"serial,omitempty"`
	NotBefore    time.Time `json:"not_before,omitzero"`
	NotAfter     time.Time `json:"not_after,omitzero"`
	IssuerSHA256 string    `json:"issuer_sha256,omitempty"`
	// Lenient is set when only zcrypto's lenient parser accepted it.
	Lenient bool `json:"lenient,omitempty"`
	// DER is the certificate (or the precertificate, when it matches the
	// signed entry) whose sha256 is CertSHA256. It is not part of the
	// sighting's JSON; the store keeps it with the sighting (see
	// SightingItems), for validity checks and revocation.
	DER []byte `json:"-"`

	// The JSON of its store item, once stored (UseEncoding): a broad CT
	// watch writes the same bytes to its output.
	storedJSON
}

// storedJSON is embedded in the records a command both stores and writes
// out, one per endpoint or log entry (Observation, Sighting): the stage
// that stores a record hands it the JSON its store item holds, and the
// record's AppendJSON writes those bytes instead of encoding it again.
type storedJSON struct{ b []byte }

// UseEncoding remembers b, which must be the record's JSON as it stands
// (the data of its store item), as its encoding; nil forgets it (an
// output that keeps records until it closes drops it, so that it holds no
// more than their fields).
func (e *storedJSON) UseEncoding(b []byte) { e.b = b }

func (e *storedJSON) stored() ([]byte, bool) { return e.b, e.b != nil }

// ItemKey is the sighting's natural key: log ID and index.
func (s Sighting) ItemKey() string {
	return s.LogID + "/" + strconv.FormatUint(s.Index, 10)
}
