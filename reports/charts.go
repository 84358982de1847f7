package reports

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Chart geometry is computed here and drawn by the HTML template as
// inline SVG: no script, no external library, identical on screen and
// paper.

const (
	chartWidth  = 520
	chartLabelW = 190 // room for labels left of the bars
	chartBarH   = 16
	chartGap    = 6
	chartTop    = 8
	chartMaxBar = 10 // bars shown before the rest are summed as "others"
)

type barChart struct {
	Title  string
	Width  int
	Height int
	LabelX int // right edge of labels
	BarX   int
	BarH   int
	Bars   []bar
	Empty  string // shown instead when there are no bars
	Note   string
}

type bar struct {
	Label  string
	Full   string // untruncated label, for the tooltip
	Value  int
	Y      int
	TextY  int
	W      int
	ValueX int
	Class  string
}

type barItem struct {
	Label string
	Value int
	Class string
}

func newBarChart(title, empty string, items []barItem) barChart {
	c := barChart{Title: title, Width: chartWidth, LabelX: chartLabelW - 8, BarX: chartLabelW, BarH: chartBarH, Empty: empty}
	if len(items) > chartMaxBar {
		rest := 0
		for _, it := range items[chartMaxBar-1:] {
			rest += it.Value
		}
		c.Note = fmt.Sprintf("%d more grouped as others", len(items)-chartMaxBar+1)
		items = append(slices.Clone(items[:chartMaxBar-1]), barItem{Label: "others", Value: rest, Class: "bar-other"})
	}
	maxV := 0
	for _, it := range items {
		maxV = max(maxV, it.Value)
	}
	plotW := chartWidth - chartLabelW - 40
	for i, it := range items {
		y := chartTop + i*(chartBarH+chartGap)
		w := 0
		if maxV > 0 {
			w = it.Value * plotW / maxV
		}
		if it.Value > 0 && w < 2 {
			w = 2
		}
		cls := it.Class
		if cls == "" {
			cls = "bar"
		}
		c.Bars = append(c.Bars, bar{Label: truncate(it.Label, 30), Full: it.Label, Value: it.Value, Y: y, TextY: y + chartBarH - 4,
			W: w, ValueX: chartLabelW + w + 6, Class: cls})
	}
	c.Height = chartTop*2 + len(items)*(chartBarH+chartGap)
	return c
}

// sortItems orders by value (largest first), then label.
func sortItems(items []barItem) []barItem {
	slices.SortStableFunc(items, func(a, b barItem) int {
		return cmp.Or(cmp.Compare(b.Value, a.Value), strings.Compare(a.Label, b.Label))
	})
	return items
}

func severityChart(s Summary) barChart {
	var items []barItem
	for _, sev := range reconcile.Severities {
		items = append(items, barItem{Label: string(sev), Value: s.BySeverity.Of(sev), Class: "sev-" + string(sev)})
	}
	return newBarChart("Open findings by severity", "", items)
}

func controlChart(fs []reconcile.Finding) barChart {
	counts := map[string]int{}
	for _, f := range fs {
		if f.Suppressed {
			continue
		}
		for _, c := range f.Controls {
			counts[controlShort(c)]++
		}
	}
	var items []barItem
	for k, v := range counts {
		items = append(items, barItem{Label: k, Value: v, Class: "bar-control"})
	}
	return newBarChart("Open findings by control", "No open finding maps to a control.", sortItems(items))
}

// keyChart counts distinct keys by algorithm and size: inventory keys
// (asymmetric ones by spki_sha256, secret keys by object) and the keys of
// every certificate seen.
func keyChart(r *Report, certs []*certRecord) barChart {
	seen := map[string]bool{}
	counts := map[string]int{}
	for _, k := range r.Keys {
		if k.Class == records.ClassCertificate {
			continue
		}
		id := k.SPKISHA256
		if id == "" {
			id = "ref:" + k.Ref
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		counts[keyAlgorithm(k)]++
	}
	for _, c := range certs {
		if c.Cert.SPKISHA256 == "" || c.Cert.KeyType == "" || seen[c.Cert.SPKISHA256] {
			continue
		}
		seen[c.Cert.SPKISHA256] = true
		counts[certAlgorithm(c.Cert)]++
	}
	var items []barItem
	for k, v := range counts {
		items = append(items, barItem{Label: k, Value: v, Class: "bar-key"})
	}
	return newBarChart("Distinct keys by algorithm and size", "No keys.", sortItems(items))
}

// issuerChart counts distinct leaf certificates (served or logged) by
// issuer CN.
func issuerChart(certs []*certRecord) barChart {
	counts := map[string]int{}
	for _, c := range certs {
		if !c.Leaf {
			continue
		}
		iss := cnOf(c.Cert.Issuer)
		if iss == "" {
			iss = "(unknown issuer)"
		}
		counts[iss]++
	}
	var items []barItem
	for k, v := range counts {
		items = append(items, barItem{Label: k, Value: v, Class: "bar-issuer"})
	}
	return newBarChart("Leaf certificates by issuer", "No certificates.", sortItems(items))
}

// The expiry timeline: one row per certificate (soonest notAfter first),
// a bar from notBefore to notAfter over a window of two months back to
// thirteen months ahead, and a line for the report date.
const (
	tlWidth   = 1040
	tlLabelW  = 260
	tlRowH    = 18
	tlTop     = 28
	tlMaxRows = 30
	tlBack    = 60 * 24 * time.Hour
	tlAhead   = 395 * 24 * time.Hour
	tlSoon    = 30 * 24 * time.Hour
)

type timeline struct {
	Width, Height int
	LabelX        int
	PlotX, PlotW  int
	NowX          int
	NowLabel      string
	Ticks         []tick
	Rows          []tlRow
	Bottom        int
	Note          string
	Empty         bool
}

type tick struct {
	X     int
	Label string
}

type tlRow struct {
	Label      string
	Title      string
	Y, TextY   int
	X, W       int
	Class      string
	ClipLeft   bool
	ClipRight  bool
	ArrowRight int
	EndLabel   string
	EndX       int
}

func expiryTimeline(certs []*certRecord, now time.Time) timeline {
	now = now.UTC()
	start, end := now.Add(-tlBack), now.Add(tlAhead)
	t := timeline{Width: tlWidth, LabelX: tlLabelW - 8, PlotX: tlLabelW, PlotW: tlWidth - tlLabelW - 110}
	xOf := func(at time.Time) int {
		if at.Before(start) {
			at = start
		}
		if at.After(end) {
			at = end
		}
		return t.PlotX + int(float64(t.PlotW)*float64(at.Sub(start))/float64(end.Sub(start)))
	}
	t.NowX, t.NowLabel = xOf(now), "report date "+fmtDate(now)
	for m := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0); m.Before(end); m = m.AddDate(0, 1, 0) {
		label := m.Format("Jan")
		if m.Month() == time.January {
			label = m.Format("2006")
		}
		t.Ticks = append(t.Ticks, tick{X: xOf(m), Label: label})
	}
	var rows []*certRecord
	for _, c := range certs {
		if !c.Cert.NotAfter.IsZero() {
			rows = append(rows, c)
		}
	}
	if len(rows) == 0 {
		t.Empty = true
		t.Height = tlTop + 20
		return t
	}
	if len(rows) > tlMaxRows {
		t.Note = fmt.Sprintf("Showing the %d soonest-expiring of %d certificates; the table below lists all.", tlMaxRows, len(rows))
		rows = rows[:tlMaxRows]
	}
	for i, c := range rows {
		y := tlTop + i*tlRowH
		nb := c.Cert.NotBefore
		if nb.IsZero() {
			nb = c.Cert.NotAfter
		}
		x0, x1 := xOf(nb), xOf(c.Cert.NotAfter)
		cls := "exp-ok"
		switch left := c.Cert.NotAfter.Sub(now); {
		case left < 0:
			cls = "exp-expired"
		case left <= tlSoon:
			cls = "exp-soon"
		}
		name := cnOf(c.Cert.Subject)
		if name == "" {
			name = short(c.Key, 16)
		}
		row := tlRow{Label: truncate(name, 38), Title: fmt.Sprintf("%s — %s to %s", c.Cert.Subject, fmtDate(c.Cert.NotBefore), fmtDate(c.Cert.NotAfter)),
			Y: y + 3, TextY: y + tlRowH - 5, X: x0, W: max(x1-x0, 3), Class: cls,
			ClipLeft: nb.Before(start), ClipRight: c.Cert.NotAfter.After(end),
			EndLabel: fmtDate(c.Cert.NotAfter), EndX: max(x1, x0+3) + 4}
		if row.ClipRight {
			row.EndLabel = "→ " + row.EndLabel
		}
		t.Rows = append(t.Rows, row)
	}
	t.Bottom = tlTop + len(rows)*tlRowH
	t.Height = t.Bottom + 10
	return t
}
