// Package stage is keyaudit's application layer: one function per stage
// (inventory, scan, ct, caa, validity, reconcile, report), each recording its run
// through a store.Recorder. The CLI commands, `keyaudit audit` and the
// queue workers all call these functions directly, so a stage does the
// same thing whoever runs it.
//
// It does not parse flags or read config files: callers hand it parsed,
// validated parameters.
package stage
