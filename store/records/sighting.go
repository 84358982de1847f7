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

	// encoded is the sighting's JSON when the caller already has it
	// (UseEncoding); AppendJSON writes it instead of encoding again.
	encoded []byte
}

// UseEncoding remembers b, which must be s's JSON as it stands (the data
// of its SightingItems item), as s's encoding: the JSONL output of a CT
// sync then writes those bytes instead of encoding s a second time.
func (s *Sighting) UseEncoding(b []byte) { s.encoded = b }

// ItemKey is the sighting's natural key: log ID and index.
func (s Sighting) ItemKey() string {
	return s.LogID + "/" + strconv.FormatUint(s.Index, 10)
}
