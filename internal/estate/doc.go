// Package estate builds a demo estate on loopback: a private PKI with
// chains of every key type keyaudit must recognise (RSA, ECDSA, Ed25519,
// expired, self-signed, negative serial, SNI-dependent), TLS and
// protocol-exact STARTTLS servers in Go, and the hostile servers a scanner
// must survive (tarpit, garbage, reset, slow drip, huge chain).
//
// It backs both the tests (through internal/testlab) and the
// keyaudit-demo command. Every listener it opens must be on loopback.
package estate
