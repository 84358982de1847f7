// Package config reads keyaudit's configuration: the YAML --config file
// whose keys mirror the command-line flags, and the ignore file of
// accepted risks that reconcile reads.
//
// A config File maps top-level keys to YAML nodes. Top-level keys are
// global flags, structured settings (policy, suppressions, watch, ct …)
// or a section per command ("scan", "ct-sync" …) holding that command's
// flags. ApplyFlags sets flags from such keys, leaving flags given on the
// command line alone and refusing unknown keys, so a typo never passes
// silently; Check reports every problem of a File against a Schema
// without running anything. SchemaOf builds the Schema of a command tree:
// each command's flags (its parents' persistent ones included) are the
// keys of its section, and its PreRunE checks the section's values as the
// command checks them before it runs.
//
// LoadIgnoreFile reads the ignore file: a list of suppressions, each
// naming a check, what it is about, a reason and an expiry date, with the
// file:line it was written at as its Source.
package config
