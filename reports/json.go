package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
)

// SchemaVersion names the shape of the json and jsonl reports; it changes
// only when a field is removed or changes meaning.
const SchemaVersion = "keyaudit-report/1"

// jsonFinding is a finding as the json, jsonl and csv reports write it:
// the output contract's fields plus its fingerprint.
type jsonFinding struct {
	reconcile.Finding
	Fingerprint string `json:"fingerprint"`
}

func withFingerprints(fs []reconcile.Finding) []jsonFinding {
	out := make([]jsonFinding, len(fs))
	for i, f := range fs {
		out[i] = jsonFinding{Finding: f, Fingerprint: f.Fingerprint()}
	}
	return out
}

// jsonDocument is the json report (see doc.go for the schema).
type jsonDocument struct {
	Schema       string        `json:"schema"`
	GeneratedAt  time.Time     `json:"generated_at"`
	Tool         Tool          `json:"tool"`
	Run          RunInfo       `json:"run"`
	Summary      Summary       `json:"summary"`
	Rules        []Rule        `json:"rules"`
	Findings     []jsonFinding `json:"findings"`
	Keys         any           `json:"keys"`
	Observations any           `json:"observations"`
	CAA          any           `json:"caa"`
	Sightings    any           `json:"sightings"`
	// Resolved lists the findings this reconcile resolved, with evidence.
	Resolved any `json:"resolved"`
}

// nonNil turns nil slices into empty ones so arrays are never null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// JSON writes the whole report as one JSON document.
func JSON(w io.Writer, r *Report, opts Options) error {
	run := r.Run
	run.Stages = nonNil(run.Stages)
	doc := jsonDocument{
		Schema: SchemaVersion, GeneratedAt: r.GeneratedAt.UTC(), Tool: r.tool(), Run: run,
		Summary: Summarize(r, opts), Rules: nonNil(r.allRules()),
		Findings: nonNil(withFingerprints(r.sortedFindings())),
		Keys:     nonNil(sortedKeys(r.Keys)), Observations: nonNil(sortedObservations(r.Observations)),
		CAA: nonNil(r.CAA), Sightings: nonNil(r.Sightings), Resolved: nonNil(r.Resolved),
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("reports: json: %w", err)
	}
	return nil
}

// Record types of the jsonl report (its "record" field).
const (
	RecordReport      = "report"
	RecordFinding     = "finding"
	RecordKey         = "key"
	RecordObservation = "observation"
	RecordCAA         = "caa"
	RecordSighting    = "sighting"
)

// JSONL writes one record per line, each a JSON object whose "record"
// field says what it is: first one "report" line (schema, tool, run,
// summary), then findings, keys, observations, caa results and sightings,
// each in the contract shape of its producer.
func JSONL(w io.Writer, r *Report, opts Options) error {
	ew := &errWriter{w: w}
	run := r.Run
	run.Stages = nonNil(run.Stages)
	head := struct {
		Schema      string    `json:"schema"`
		GeneratedAt time.Time `json:"generated_at"`
		Tool        Tool      `json:"tool"`
		Run         RunInfo   `json:"run"`
		Summary     Summary   `json:"summary"`
	}{SchemaVersion, r.GeneratedAt.UTC(), r.tool(), run, Summarize(r, opts)}
	line := func(kind string, v any) {
		if ew.err != nil {
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			ew.err = fmt.Errorf("reports: jsonl %s: %w", kind, err)
			return
		}
		ew.printf("%s\n", tagRecord(kind, b))
	}
	line(RecordReport, head)
	for _, f := range withFingerprints(r.sortedFindings()) {
		line(RecordFinding, f)
	}
	for _, k := range sortedKeys(r.Keys) {
		line(RecordKey, k)
	}
	for _, o := range sortedObservations(r.Observations) {
		line(RecordObservation, o)
	}
	for _, c := range r.CAA {
		line(RecordCAA, c)
	}
	for _, s := range r.Sightings {
		line(RecordSighting, s)
	}
	return ew.err
}

// tagRecord puts "record":kind first in a marshalled object. Splicing
// the bytes keeps each producer's own MarshalJSON (records.CAAResult has one).
func tagRecord(kind string, obj []byte) []byte {
	tag := `{"record":` + strconv.Quote(kind)
	if bytes.Equal(obj, []byte("{}")) {
		return []byte(tag + "}")
	}
	return append([]byte(tag+","), obj[1:]...)
}

// CSV record sets (Options.Records).
const (
	RecordsFindings  = "findings"
	RecordsKeys      = "keys"
	RecordsEndpoints = "endpoints"
)

// CSV writes one table (Options.Records: findings by default, keys or
// endpoints) with a header row. Cells that a spreadsheet would run as a
// formula are escaped (CSVSafe): subjects and names are
// attacker-controlled.
func CSV(w io.Writer, r *Report, opts Options) error {
	var header []string
	var rows [][]string
	switch opts.Records {
	case "", RecordsFindings:
		header = []string{"severity", "check", "subject", "endpoint", "message", "spki_sha256", "cert_sha256",
			"controls", "first_seen", "suppressed", "suppressed_by", "source", "fingerprint"}
		for _, f := range r.sortedFindings() {
			rows = append(rows, []string{string(f.Severity), f.Check, f.Subject, f.Endpoint, f.Message, f.SPKISHA256, f.CertSHA256,
				strings.Join(f.Controls, "; "), rfc3339(f.FirstSeen), strconv.FormatBool(f.Suppressed), f.SuppressedBy, f.Source, f.Fingerprint()})
		}
	case RecordsKeys:
		header = []string{"source", "token", "label", "id", "class", "algorithm", "key_type", "key_bits", "curve", "spki_sha256",
			"owner", "purpose", "created", "expires", "state", "stored", "sensitive", "extractable", "usage", "uri", "path"}
		for _, k := range sortedKeys(r.Keys) {
			rows = append(rows, []string{k.Source, k.Token, k.Label, k.ID, string(k.Class), keyAlgorithm(k), k.KeyType, itoa(k.KeyBits), k.Curve,
				k.SPKISHA256, k.Owner, k.Purpose, fmtDatePtr(k.StartDate), fmtDatePtr(k.EndDate), KeyState(k, r.GeneratedAt, r.Findings),
				KeyStorage(k), triState(k.Sensitive), triState(k.Extractable), usage(k), k.URI, k.Path})
		}
	case RecordsEndpoints:
		header = []string{"endpoint", "host", "ip", "port", "protocol", "tls_version", "cipher_suite", "group",
			"leaf_subject", "leaf_issuer", "leaf_not_after", "leaf_key", "leaf_sha256", "spki_sha256", "error_kind", "error"}
		for _, o := range sortedObservations(r.Observations) {
			row := []string{o.Protocol + "://" + o.Target, o.Host, o.IP, itoa(o.Port), o.Protocol, o.TLSVersion, o.CipherSuite, o.Group}
			if l := o.Leaf(); l != nil {
				row = append(row, l.Subject, l.Issuer, rfc3339(l.NotAfter), certAlgorithm(*l), l.SHA256, l.SPKISHA256)
			} else {
				row = append(row, "", "", "", "", "", "")
			}
			if o.Error != nil {
				row = append(row, string(o.Error.Kind), o.Error.Message)
			} else {
				row = append(row, "", "")
			}
			rows = append(rows, row)
		}
	default:
		return fmt.Errorf("reports: csv: unknown records %q (want findings, keys or endpoints)", opts.Records)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("reports: csv: %w", err)
	}
	for _, row := range rows {
		for i := range row {
			row[i] = CSVSafe(row[i])
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("reports: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("reports: csv: %w", err)
	}
	return nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
