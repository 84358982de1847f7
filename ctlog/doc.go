// Package ctlog follows Certificate Transparency logs and reports the
// certificates and precertificates issued for watched DNS names.
//
// It reads RFC 6962 logs (get-sth, get-entries, through
// github.com/google/certificate-transparency-go) and static-ct-api logs
// (c2sp.org/static-ct-api: signed checkpoint, data and hash tiles), from
// explicit configuration or a Chrome log list v3.
//
// Nothing a log serves is trusted before it is verified: every signed tree
// head or checkpoint is checked against the log's key, the Merkle tree is
// rebuilt from every fetched entry and its root compared with a signed head
// (directly, or through a consistency proof to it), and each new head must
// be consistent with the last verified one. A log that fails any of these
// yields a *MisbehaviourError carrying both heads, and its position does
// not move. Heads are also held against time and against each other: a
// head dated beyond the allowed clock skew, a larger tree dated before
// the verified one, a smaller tree signed after it, or a smaller head
// whose log no longer serves the verified tree (a suspected rollback) is
// misbehaviour; an older, smaller head that is still proven a prefix is a
// stale cache, and is fine. A static log's checkpoint origin is bound
// (configured, from the log list, or by the first verified checkpoint).
//
// A URL that never served a verifiable head (an HTML page, random bytes)
// or whose checkpoints name another origin than the configured one is a
// *ConfigError: the configuration is wrong, the log did not lie.
//
// Names are matched as clients read them: IDNA dot equivalents (U+3002,
// U+FF0E, U+FF61) are full stops, and a SAN or CN holding a NUL is
// matched by what precedes the NUL and reported in Sighting.NULNames
// (the null-prefix attack).
//
// Positions are durable through a Sink: the monitor hands it the verified
// state together with the sightings that state covers, and a Sink backed by
// the store writes both in one transaction, so a crash at any moment loses
// nothing and repeats nothing.
//
// ctlog owns the log list, both clients, signature and Merkle verification,
// checkpointed following and watchlist matching. It must not advance a
// position past anything unverified, and it knows nothing of the store.
package ctlog

//go:generate go run ../testdata/ct/gen.go -out ../testdata/ct
