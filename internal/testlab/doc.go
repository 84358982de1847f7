// Package testlab starts real components on loopback for keyaudit's tests:
// TLS and STARTTLS servers, SoftHSM tokens, an authoritative DNS server,
// CT logs, an ACME CA. Every address it hands out or accepts is checked by
// MustLoopback, so a test cannot send traffic off the machine.
//
// It must not be imported by non-test code.
package testlab
