// Package records holds the record types keyaudit stores for each run and
// their codec: how an observation, a CT sighting, a certificate's DER, an
// inventory source's outcome or a CT log's status becomes a store.Item
// and back. Producers (scanner, ctlog, inventory) know nothing of it; the
// application layer (stage) and the queue workers write through it, the
// estate view reads through it.
package records
