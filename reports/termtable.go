package reports

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"
)

// tableGap separates columns.
const tableGap = "  "

// textTable is a table laid out for a terminal: no borders, columns
// separated by two spaces, the whole no wider than the terminal when it
// can be. Columns wider than their share are narrowed, widest first:
// their cells wrap at spaces (and long words at . / : , -) or, for
// columns in elide, are cut with "…".
type textTable struct {
	header []string
	rows   [][]string
	elide  map[int]bool
}

// Column floors: a flexible column (a message) is narrowed to
// flexFloor before any other column is touched; no column is narrowed
// below its longest word (up to wordFloor), so that identifiers, dates
// and key classes stay whole. A table that cannot fit so is written as a
// list of records instead.
const (
	flexFloor = 30
	wordFloor = 24
)

// flexible names the columns of free text, narrowed first.
var flexible = map[string]bool{"MESSAGE": true, "EXAMPLE": true, "ERROR": true, "NOTE": true, "EVIDENCE": true,
	"REASON": true, "DESCRIPTION": true, "CITATIONS": true, "RECORDS": true, "DETAIL": true}

// widths lays out t for width columns; ok is false when it does not fit
// as a table.
func (t *textTable) widths(width int) (w []int, ok bool) {
	n := len(t.header)
	w = make([]int, n)
	words := make([]int, n)
	for i, h := range t.header {
		w[i] = displayWidth(h)
		words[i] = w[i]
	}
	for _, r := range t.rows {
		for i := 0; i < n && i < len(r); i++ {
			c := sanitizeCell(r[i])
			w[i] = max(w[i], displayWidth(c))
			for _, f := range strings.Fields(c) {
				words[i] = max(words[i], min(displayWidth(f), wordFloor))
			}
		}
	}
	total := len(tableGap) * (n - 1)
	for i := range w {
		total += w[i]
	}
	squeeze := func(floor func(i int) int) {
		for total > width {
			widest := -1
			for i := range w {
				if w[i] > floor(i) && (widest < 0 || w[i] >= w[widest]) {
					widest = i
				}
			}
			if widest < 0 {
				return
			}
			w[widest]--
			total--
		}
	}
	squeeze(func(i int) int {
		if flexible[t.header[i]] || t.elide[i] {
			return min(w[i], max(flexFloor, words[i]))
		}
		return w[i]
	})
	squeeze(func(i int) int { return min(w[i], words[i]) })
	return w, total <= width
}

// render writes t for term.
func (t *textTable) render(w io.Writer, term Terminal) error {
	ew := &errWriter{w: w}
	cw, fits := t.widths(term.width())
	if !fits {
		return t.renderList(w, term)
	}
	sevCol := -1
	for i, h := range t.header {
		if h == "SEVERITY" {
			sevCol = i
		}
	}
	line := func(cells [][]string, paint func(col int, s string) string) {
		height := 1
		for _, c := range cells {
			height = max(height, len(c))
		}
		for l := range height {
			var b strings.Builder
			last := len(cells) - 1
			for last > 0 && (l >= len(cells[last]) || cells[last][l] == "") {
				last-- // no trailing blanks
			}
			for i := 0; i <= last; i++ {
				s := ""
				if l < len(cells[i]) {
					s = cells[i][l]
				}
				pad := ""
				if i < last {
					pad = strings.Repeat(" ", max(cw[i]-displayWidth(s), 0)) + tableGap
				}
				b.WriteString(paint(i, s))
				b.WriteString(pad)
			}
			b.WriteByte('\n')
			ew.printf("%s", b.String())
		}
	}
	hdr := make([][]string, len(t.header))
	for i, h := range t.header {
		hdr[i] = []string{h}
	}
	line(hdr, func(_ int, s string) string { return term.paint(sgrBold, s) })
	for _, r := range t.rows {
		cells := make([][]string, len(t.header))
		for i := range t.header {
			c := ""
			if i < len(r) {
				c = sanitizeCell(r[i])
			}
			if t.elide[i] {
				cells[i] = []string{elide(c, cw[i])}
			} else {
				cells[i] = wrapCell(c, cw[i])
			}
		}
		line(cells, func(col int, s string) string {
			if col == sevCol {
				return term.paint(severitySGR(strings.Join(cells[col], " ")), s)
			}
			return s
		})
	}
	if ew.err != nil {
		return fmt.Errorf("reports: table: %w", ew.err)
	}
	return nil
}

// elide cuts s to width columns, marking the cut with "…".
func elide(s string, width int) string {
	if displayWidth(s) <= width {
		return s
	}
	return runewidth.Truncate(s, width, "…")
}

// wrapCell breaks s into lines of at most width columns: at spaces, and
// a word longer than a line after its last . / : , - that fits (so host
// names break between labels), else where it must.
func wrapCell(s string, width int) []string {
	if width <= 0 || displayWidth(s) <= width {
		return []string{s}
	}
	var lines []string
	cur := ""
	flush := func() {
		lines = append(lines, cur)
		cur = ""
	}
	for _, word := range strings.Fields(s) {
		for word != "" {
			switch {
			case cur == "" && displayWidth(word) <= width:
				cur, word = word, ""
			case cur != "" && displayWidth(cur)+1+displayWidth(word) <= width:
				cur, word = cur+" "+word, ""
			case cur != "":
				flush()
			default: // a word longer than a line
				head := runewidth.Truncate(word, width, "")
				if i := strings.LastIndexAny(head, "./:,-@="); i > 0 {
					head = head[:i+1]
				}
				if head == "" { // a character wider than the column
					_, size := utf8.DecodeRuneInString(word)
					head = word[:size]
				}
				cur, word = head, word[len(head):]
				flush()
			}
		}
	}
	if cur != "" || len(lines) == 0 {
		flush()
	}
	return lines
}

// renderList writes t as a list of records, for a terminal too narrow
// for its table: the first two cells on a line, then each other
// non-empty cell under them as "header  value", wrapped.
func (t *textTable) renderList(w io.Writer, term Terminal) error {
	ew := &errWriter{w: w}
	label := 0
	for _, h := range t.header[min(2, len(t.header)):] {
		label = max(label, displayWidth(h))
	}
	indent := strings.Repeat(" ", 2+label+len(tableGap))
	valueWidth := max(term.width()-len(indent), 20)
	for ri, r := range t.rows {
		if ri > 0 {
			ew.printf("\n")
		}
		cells := make([]string, len(t.header))
		for i := range cells {
			if i < len(r) {
				cells[i] = sanitizeCell(r[i])
			}
		}
		var head []string
		for i := 0; i < len(cells) && i < 2; i++ {
			c := cells[i]
			if t.header[i] == "SEVERITY" {
				c = term.paint(severitySGR(c), c)
			}
			head = append(head, c)
		}
		ew.printf("%s\n", strings.Join(head, tableGap))
		for i := 2; i < len(cells); i++ {
			if cells[i] == "" {
				continue
			}
			h := strings.ToLower(t.header[i])
			for li, l := range wrapCell(cells[i], valueWidth) {
				if li == 0 {
					ew.printf("  %s%s%s%s\n", term.paint(sgrDim, h), strings.Repeat(" ", label-displayWidth(h)), tableGap, l)
				} else {
					ew.printf("%s%s\n", indent, l)
				}
			}
		}
	}
	if ew.err != nil {
		return fmt.Errorf("reports: table: %w", ew.err)
	}
	return nil
}

// wrapText wraps a line of prose to width, continuation lines indented;
// it ends in a newline.
func wrapText(s string, width int, indent string) string {
	lines := wrapCell(s, width)
	if len(lines) > 1 {
		rest := strings.Join(lines[1:], " ")
		lines = append(lines[:1], wrapCell(rest, width-displayWidth(indent))...)
		for i := 1; i < len(lines); i++ {
			lines[i] = indent + lines[i]
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
