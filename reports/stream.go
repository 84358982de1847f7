package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Formats understood by NewStream.
const (
	FormatTable = "table"
	FormatJSONL = "jsonl"
	FormatJSON  = "json"
	FormatCSV   = "csv"
)

// StreamFormats lists the formats NewStream accepts.
var StreamFormats = []string{FormatTable, FormatJSONL, FormatJSON, FormatCSV}

// Column is one column of the table and CSV forms of a record stream.
type Column[T any] struct {
	Header string
	Value  func(T) string
}

// Stream writes records one at a time. jsonl and csv are written as they
// come (memory stays flat); json streams an array; table buffers rows,
// since column widths depend on every row — use it for human-sized output.
type Stream[T any] interface {
	Write(T) error
	Close() error
}

// StreamOption tunes NewStream.
type StreamOption func(*streamConfig)

type streamConfig struct {
	sort    bool
	term    *Terminal
	details bool
}

// SortRows sorts table rows by their cells, for records that arrive in no
// meaningful order (scan results); without it rows keep write order.
var SortRows StreamOption = func(c *streamConfig) { c.sort = true }

// WithTerminal lays tables out for t instead of for what TerminalOf says
// of the writer.
func WithTerminal(t Terminal) StreamOption { return func(c *streamConfig) { c.term = &t } }

// WithDetails makes the summarising tables (NewFindingStream,
// NewObservationStream) also list every record, as --verbose asks.
func WithDetails(on bool) StreamOption { return func(c *streamConfig) { c.details = c.details || on } }

func streamOptions(w io.Writer, opts []StreamOption) streamConfig {
	var c streamConfig
	for _, o := range opts {
		o(&c)
	}
	if c.term == nil {
		t := TerminalOf(w)
		c.term = &t
	}
	return c
}

// NewStream returns a Stream for format. CSV uses cols for its header and
// cells (cells are escaped against formula injection); table uses cols,
// fitted to the terminal (TerminalOf); json and jsonl marshal T.
func NewStream[T any](w io.Writer, format string, cols []Column[T], opts ...StreamOption) (Stream[T], error) {
	switch format {
	case FormatJSONL:
		return &jsonlStream[T]{w: w, enc: json.NewEncoder(w)}, nil
	case FormatJSON:
		return &jsonStream[T]{w: w}, nil
	case FormatCSV:
		cw := csv.NewWriter(w)
		h := make([]string, len(cols))
		for i, c := range cols {
			h[i] = c.Header
		}
		if err := cw.Write(h); err != nil {
			return nil, fmt.Errorf("reports: csv header: %w", err)
		}
		return &csvStream[T]{w: cw, cols: cols}, nil
	case FormatTable, "":
		c := streamOptions(w, opts)
		return &tableStream[T]{w: w, cols: cols, sort: c.sort, term: *c.term}, nil
	default:
		return nil, fmt.Errorf("reports: unknown format %q (want one of %s)", format, strings.Join(StreamFormats, ", "))
	}
}

type jsonlStream[T any] struct {
	w   io.Writer
	enc *json.Encoder
	buf []byte
	// cur holds the record being written, so that asking it for
	// AppendJSON takes the address of a field instead of moving every
	// record to the heap (a broad CT watch writes one per entry).
	cur T
}

// jsonAppender is a record that encodes itself as json.Marshal does,
// without reflection (records.Sighting: a broad CT watch writes one per
// log entry).
type jsonAppender interface {
	AppendJSON([]byte) ([]byte, error)
}

func (s *jsonlStream[T]) Write(v T) error {
	s.cur = v
	if a, ok := any(&s.cur).(jsonAppender); ok {
		b, err := a.AppendJSON(s.buf[:0])
		var zero T
		s.cur = zero // the stream keeps no record
		if err != nil {
			return fmt.Errorf("reports: jsonl: %w", err)
		}
		b = append(b, '\n')
		s.buf = b
		if _, err := s.w.Write(b); err != nil {
			return fmt.Errorf("reports: jsonl: %w", err)
		}
		return nil
	}
	var zero T
	s.cur = zero
	if err := s.enc.Encode(v); err != nil {
		return fmt.Errorf("reports: jsonl: %w", err)
	}
	return nil
}
func (s *jsonlStream[T]) Close() error { return nil }

type jsonStream[T any] struct {
	w io.Writer
	n int
}

func (s *jsonStream[T]) Write(v T) error {
	b, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		return fmt.Errorf("reports: json: %w", err)
	}
	sep := ",\n  "
	if s.n == 0 {
		sep = "[\n  "
	}
	s.n++
	_, err = fmt.Fprintf(s.w, "%s%s", sep, b)
	return err
}

func (s *jsonStream[T]) Close() error {
	if s.n == 0 {
		_, err := io.WriteString(s.w, "[]\n")
		return err
	}
	_, err := io.WriteString(s.w, "\n]\n")
	return err
}

type csvStream[T any] struct {
	w    *csv.Writer
	cols []Column[T]
}

func (s *csvStream[T]) Write(v T) error {
	row := make([]string, len(s.cols))
	for i, c := range s.cols {
		row[i] = sanitizeCell(CSVSafe(c.Value(v)))
	}
	if err := s.w.Write(row); err != nil {
		return fmt.Errorf("reports: csv: %w", err)
	}
	return nil
}

func (s *csvStream[T]) Close() error {
	s.w.Flush()
	return s.w.Error()
}

// CSVSafe neutralises cells a spreadsheet would run as a formula: those
// starting with = + - @, TAB or CR get a leading single quote (OWASP CSV
// injection guidance). Certificate subjects are attacker-controlled.
func CSVSafe(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

type tableStream[T any] struct {
	w    io.Writer
	cols []Column[T]
	rows [][]string
	sort bool
	term Terminal
}

func (s *tableStream[T]) Write(v T) error {
	row := make([]string, len(s.cols))
	for i, c := range s.cols {
		row[i] = sanitizeCell(c.Value(v))
	}
	s.rows = append(s.rows, row)
	return nil
}

func (s *tableStream[T]) Close() error {
	if s.sort {
		sortRows(s.rows)
	}
	t := textTable{header: headers(s.cols), rows: s.rows}
	return t.render(s.w, s.term)
}

// sortRows sorts rows by their cells: rows that arrive in completion
// order make a stable table.
func sortRows(rows [][]string) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		for k := range a {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return false
	})
}

func headers[T any](cols []Column[T]) []string {
	h := make([]string, len(cols))
	for i, c := range cols {
		h[i] = c.Header
	}
	return h
}

// RenderTable writes a plain-text table fitted to w (TerminalOf).
func RenderTable(w io.Writer, header []string, rows [][]string) error {
	t := textTable{header: header, rows: rows}
	return t.render(w, TerminalOf(w))
}

// sanitizeCell strips control characters (terminal escape sequences in a
// hostile certificate subject must not reach the user's terminal).
func sanitizeCell(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
