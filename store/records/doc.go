// Package records holds the record types keyaudit stores for each run and
// their codec: how an observation, an inventory key, a CAA result, a CT
// sighting, a certificate's DER, an inventory source's outcome or a CT
// log's status becomes a store.Item and back.
//
// The types are defined here, one file per record (observation.go,
// key.go, caa.go, sighting.go, logstatus.go), and depend on nothing but
// internal/certinfo and the standard library. The engines that produce
// them (scanner, scanner/caa, ctlog, inventory) name them through type
// aliases and know nothing of the codec; the application layer (stage)
// and the queue workers write through it, the estate view reads through
// it, and reconcile and reports read the records without importing any
// engine.
package records
