// Package certinfo summarises certificates and public keys into the
// fields keyaudit records and joins on: the SHA-256 of the certificate DER
// (sha256) and the SHA-256 of the DER SubjectPublicKeyInfo (spki_sha256, the
// same value as an HPKP pin-sha256).
//
// Parsing tries crypto/x509 first (fast, strict) and falls back to
// zcrypto/x509 only for certificates Go refuses (negative serials, broken
// extensions), so a malformed certificate is still summarised, never dropped.
package certinfo
