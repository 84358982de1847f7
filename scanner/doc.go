// Package scanner performs agentless TLS and STARTTLS scans: it expands
// targets (hosts, IPs, CIDRs, ports, stdin) lazily, keeps to the configured
// scope, shards deterministically, resolves names with the resolvers it is
// given (A and AAAA through miekg/dns, under the scan's context), and runs one
// bounded, rate-limited handshake per endpoint with zcrypto's TLS, which
// records what Go's crypto/tls refuses (TLS 1.0, malformed certificates).
//
// Every attempted endpoint yields exactly one Observation; failures are
// typed (ErrorKind), never dropped. The scanner knows nothing of the
// inventory or the store.
package scanner
