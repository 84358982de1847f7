// Package validity decides whether what an endpoint serves would be
// accepted by a client today: the chain built to a trusted root (system
// roots plus private trust anchors), the leaf covering the scanned name,
// and the leaf's revocation status from its stapled OCSP response, its
// OCSP responder (RFC 6960) and its CRL (RFC 5280). Certificates seen only
// in CT get the revocation part alone (CheckCert).
//
// URLs inside certificates (AIA caIssuers and OCSP, CRL distribution
// points) are chosen by whoever issued the certificate, so every fetch
// goes through a Fetcher bounded by a Scope of addresses, schemes, sizes,
// deadlines and a per-host rate. It does not write the store: answers
// worth keeping across runs go to a Cache the caller provides.
package validity
