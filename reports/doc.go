// Package reports renders keyaudit records — observations, keys, CAA
// results, sightings, findings — for people (table, markdown, html) and for
// machines (json, jsonl, csv, sarif, junit, cbom). Renderers take an
// io.Writer and are deterministic; they never compute findings.
package reports
