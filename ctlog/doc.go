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
// not move.
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
