package reports

import "testing"

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"CN=Example CA":       "CN=Example CA",
		"\x1b]0;X\x07\x1b[2J": "?]0;X??[2J",
		"a\r\nb\tc\x00d\x7fe": "a??b?c?d?e",
		"c1\u0085\u009b31m":   "c1??31m",
		"Zürich, 東京 \u00a0ok": "Zürich, 東京 \u00a0ok",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
