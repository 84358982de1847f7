// Package reports renders keyaudit records — observations, keys, CAA
// results, sightings, findings — for people (table, markdown, html) and for
// machines (json, jsonl, csv, sarif, junit, cbom). Renderers take an
// io.Writer and are deterministic; they never compute findings.
//
// A Report is one reconcile run with its findings, the records it was
// computed from, the stages that produced them (complete, partial, failed)
// and the check registry's metadata. Every renderer has the signature of
// Renderer and is golden-tested against testdata/*.golden with a fixed
// clock (go test ./reports -update rewrites them); SARIF and CBOM output
// is validated against the official schemas vendored in testdata/schema,
// and the HTML page is opened in headless Chromium when one is installed.
//
// # Report schema (json and jsonl, "keyaudit-report/1")
//
// The json format is one object:
//
//	schema        "keyaudit-report/1"; changes only when a field is removed or changes meaning
//	generated_at  RFC 3339 time of the report
//	tool          {name, version}
//	run           {id, kind, group, status, started, ended, note,
//	               stages: [{name, run_id, status, note}]}
//	              status and stage status: complete, partial, failed, skipped
//	              (a store status such as interrupted is passed through)
//	summary       {findings, suppressed, by_severity: {critical, high, medium, low, info}
//	               (unsuppressed), fail_on, failing, failed, keys, endpoints,
//	               endpoints_failed, certificates, sightings, incomplete}
//	rules         [{id, severity, description, help, citations, controls}]
//	findings      [Finding + fingerprint], most severe first; Finding is the
//	              output contract's: check, severity, subject, spki_sha256,
//	              cert_sha256, endpoint, message, controls, first_seen,
//	              suppressed, suppressed_by, evidence, source
//	keys          [records.Key] (the `inventory --format jsonl` contract)
//	observations  [records.Observation] (the `scan --format jsonl` contract)
//	caa           [records.CAAResult] (the `caa --format jsonl` contract)
//	sightings     [records.Sighting]
//
// Arrays are never null. The jsonl format writes the same records one per
// line, each object's first key "record" saying what it is: one "report"
// line (schema, generated_at, tool, run, summary), then "finding", "key",
// "observation", "caa" and "sighting" lines in the shapes above. Select
// with jq 'select(.record == "finding")'.
//
// The csv format writes one table, chosen by Options.Records:
//
//	findings   severity, check, subject, endpoint, message, spki_sha256, cert_sha256,
//	           controls ("; "-joined), first_seen, suppressed, suppressed_by, source, fingerprint
//	keys       source, token, label, id, class, algorithm, key_type, key_bits, curve, spki_sha256,
//	           owner, purpose, created, expires, state (NIST SP 800-57), stored (HSM, KMS,
//	           Software), sensitive, extractable, usage, uri, path
//	endpoints  endpoint, host, ip, port, protocol, tls_version, cipher_suite, group,
//	           leaf_subject, leaf_issuer, leaf_not_after, leaf_key, leaf_sha256, spki_sha256,
//	           error_kind, error
//
// A cell starting with = + - @ TAB or CR gets a leading single quote
// (CSVSafe): subjects and labels are attacker-controlled.
//
// # Other formats
//
// sarif: SARIF 2.1.0 as GitHub code scanning ingests it, one rule per
// check (each with a security-severity), one result per finding (at most
// SARIFMaxResultsPerRun) with partialFingerprints["keyauditFinding/v1"] =
// Finding.Fingerprint() and a primaryLocationLineHash derived from it;
// every result has a physical location with a line: the finding's source
// file when it is in the repository ("path" or "path:line", relative to
// %SRCROOT%), else the config line Options.Locate finds, else its
// SyntheticPath; beside it a logical location (endpoint, key, log entry).
// Suppressed findings carry a SARIF suppression. junit: a suite per
// check, a case per check and subject, failing at Options.FailOn, skipped
// when suppressed. markdown with Options.Summary: MarkdownSummary, under
// SummaryLimit bytes. cbom:
// CycloneDX 1.6, every certificate, public key and inventory key as a
// cryptographic-asset component, algorithms with their OIDs, a TLS
// protocol component per endpoint that answered, and the dependency
// graph (see CBOM). html: one self-contained page
// whose Content-Security-Policy allows only its own inline script and
// style.
package reports
