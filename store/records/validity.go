package records

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/keyaudit/keyaudit/store"
)

// KindValidity is a validity result item (records.Validity), keyed by
// ObservationKey of the endpoint it checked, or by CTValidityKey of a
// certificate seen in CT.
const KindValidity = "validity"

// CTValidityKey is the Endpoint (and item key) of the validity result of
// a certificate seen in Certificate Transparency rather than on an
// endpoint: one per certificate, whichever logs hold it.
func CTValidityKey(certSHA256 string) string { return "ct|" + certSHA256 }

// Validity is what the validity stage found of one endpoint's served
// chain: whether it builds to a trusted root, whether it covers the
// scanned name, and what OCSP, the CRL and the staple say of the leaf.
// One line of `keyaudit validity --format jsonl` and one KindValidity
// item.
type Validity struct {
	// Endpoint is the checked observation's ObservationKey; Target, IP,
	// SNI, Protocol and Name identify it for readers.
	Endpoint string `json:"endpoint"`
	Target   string `json:"target"`
	IP       string `json:"ip"`
	SNI      string `json:"sni,omitempty"`
	Protocol string `json:"protocol"`
	// Name is the name the leaf must cover: the SNI, else the host (an IP
	// address for an IP target).
	Name string `json:"name"`
	// CertSHA256 and SPKISHA256 are the leaf's; ScanRun the scan run whose
	// observation was checked.
	CertSHA256 string    `json:"cert_sha256"`
	SPKISHA256 string    `json:"spki_sha256"`
	Subject    string    `json:"subject"`
	Serial     string    `json:"serial,omitempty"`
	ScanRun    int64     `json:"scan_run"`
	Time       time.Time `json:"time"`

	Chain ChainStatus `json:"chain"`
	// HostnameOK is false when the leaf does not cover Name.
	HostnameOK bool `json:"hostname_ok"`
	// MustStaple is set when the leaf carries the RFC 7633 TLS feature
	// status_request; Stapled when the endpoint stapled a response.
	MustStaple bool `json:"must_staple"`
	Stapled    bool `json:"stapled"`
	// Revocation holds one entry per source consulted (staple, OCSP, CRL).
	Revocation []RevocationStatus `json:"revocation"`
	// Renewal is the ACME ARI suggested window, when asked for.
	Renewal *RenewalInfo `json:"renewal,omitempty"`
	// CT is set on the result of a certificate seen in CT (Endpoint is
	// then its CTValidityKey): only its revocation was checked, so Chain,
	// HostnameOK and the stapling fields say nothing.
	CT *CTSeen `json:"ct,omitempty"`
	// Error is set when the endpoint could not be checked at all (no DER
	// for its leaf).
	Error string `json:"error,omitempty"`
}

// CTSeen is what a CT certificate's validity result says of where the
// certificate and its issuer came from.
type CTSeen struct {
	// Log and Index name one entry that logged it; Names are its DNS
	// names.
	Log     string   `json:"log"`
	Index   uint64   `json:"index"`
	Names   []string `json:"names"`
	Precert bool     `json:"precert,omitempty"`
	// Issuer is the subject of the issuer certificate the revocation
	// sources were asked about, IssuerSHA256 its hash, and IssuerFrom
	// where it came from: "store", or the AIA caIssuers URL it was
	// fetched from. IssuerProblem says why there is none.
	Issuer        string `json:"issuer,omitempty"`
	IssuerSHA256  string `json:"issuer_sha256,omitempty"`
	IssuerFrom    string `json:"issuer_from,omitempty"`
	IssuerProblem string `json:"issuer_problem,omitempty"`
}

// Chain trust outcomes.
const (
	ChainTrusted    = "trusted"
	ChainIncomplete = "incomplete" // trusted once the missing intermediates were fetched (AIA)
	ChainUntrusted  = "untrusted"
)

// ChainStatus is the outcome of building the served chain to a root.
type ChainStatus struct {
	// Status is trusted, incomplete or untrusted.
	Status string `json:"status"`
	// Reason says why it is not trusted, or which intermediates it lacks.
	Reason string `json:"reason,omitempty"`
	// Root is the subject of the trust anchor the chain reached.
	Root string `json:"root,omitempty"`
	// Fetched are the intermediates fetched through AIA caIssuers (URL
	// and subject) to complete an incomplete chain.
	Fetched []FetchedCert `json:"fetched,omitempty"`
	// ExpiredIntermediates are served CA certificates past notAfter.
	ExpiredIntermediates []ExpiredCert `json:"expired_intermediates,omitempty"`
}

// FetchedCert is an intermediate fetched from a caIssuers URL.
type FetchedCert struct {
	URL     string `json:"url"`
	Subject string `json:"subject"`
	SHA256  string `json:"sha256"`
}

// ExpiredCert is a served CA certificate past its notAfter.
type ExpiredCert struct {
	Subject  string    `json:"subject"`
	SHA256   string    `json:"sha256"`
	NotAfter time.Time `json:"not_after"`
}

// Revocation statuses.
const (
	RevGood    = "good"
	RevRevoked = "revoked"
	// RevUnknown: the source could not say (unreachable, unauthorised
	// signer, malformed or stale answer, OCSP "unknown"). Never good.
	RevUnknown = "unknown"
)

// Revocation sources.
const (
	SourceOCSP   = "OCSP"
	SourceCRL    = "CRL"
	SourceStaple = "OCSP staple"
)

// RevocationStatus is what one revocation source said of the leaf.
type RevocationStatus struct {
	Source string `json:"source"` // OCSP, CRL, OCSP staple
	URL    string `json:"url,omitempty"`
	Status string `json:"status"` // good, revoked, unknown
	// Reason is the CRL reason of a revocation; Problem why the status is
	// unknown.
	Reason    string    `json:"reason,omitempty"`
	Problem   string    `json:"problem,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// ThisUpdate and NextUpdate bound the answer; Cached is set when it
	// came from the cache (fetched earlier, still before NextUpdate).
	ThisUpdate time.Time `json:"this_update,omitzero"`
	NextUpdate time.Time `json:"next_update,omitzero"`
	Cached     bool      `json:"cached,omitempty"`
}

// RenewalInfo is an ACME ARI (RFC 9773) answer for the leaf.
type RenewalInfo struct {
	Directory      string    `json:"directory"`
	WindowStart    time.Time `json:"window_start,omitzero"`
	WindowEnd      time.Time `json:"window_end,omitzero"`
	ExplanationURL string    `json:"explanation_url,omitempty"`
	Problem        string    `json:"problem,omitempty"`
}

// ValidityItem is the store item of a validity result.
func ValidityItem(v Validity) (store.Item, error) {
	it := store.Item{Kind: KindValidity, Key: v.Endpoint, SPKISHA256: v.SPKISHA256, CertSHA256: v.CertSHA256}
	b, err := json.Marshal(v)
	if err != nil {
		return it, fmt.Errorf("encode validity %s: %w", it.Key, err)
	}
	it.Data = b
	return it, nil
}

// DecodeValidity decodes a validity item.
func DecodeValidity(it store.Item) (Validity, error) {
	var v Validity
	err := decodeItem(it, KindValidity, &v)
	return v, err
}
