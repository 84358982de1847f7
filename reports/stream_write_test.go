package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/store/records"
)

type fullDisk struct{}

var errNoSpace = errors.New("no space left on device")

func (fullDisk) Write([]byte) (int, error) { return 0, errNoSpace }

type row struct{ A, B string }

var rowColumns = []Column[row]{
	{Header: "A", Value: func(r row) string { return r.A }},
	{Header: "B", Value: func(r row) string { return r.B }},
}

// TestEveryFormatReportsAFailedWrite: a table (or any stream) written to a
// full disk is an error, not a silent success.
func TestEveryFormatReportsAFailedWrite(t *testing.T) {
	for _, format := range StreamFormats {
		out, err := NewStream(fullDisk{}, format, rowColumns)
		if err != nil {
			t.Fatal(err)
		}
		werr := out.Write(row{"x", "y"})
		cerr := out.Close()
		if !errors.Is(werr, errNoSpace) && !errors.Is(cerr, errNoSpace) {
			t.Errorf("%s: write %v, close %v; want the disk's error", format, werr, cerr)
		}
	}
}

// TestCSVNeutralisesControlBytes: ESC, BEL and NUL from a certificate
// subject or a PKCS#11 label never reach a CSV cell.
func TestCSVNeutralisesControlBytes(t *testing.T) {
	var b bytes.Buffer
	out, err := NewStream(&b, FormatCSV, rowColumns)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Write(row{"CN=\x1b[31mevil\a\x00", "=cmd"}); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\a\x00") {
		t.Errorf("control bytes in CSV: %q", b.String())
	}
	if !strings.Contains(b.String(), "'=cmd") {
		t.Errorf("formula not neutralised: %q", b.String())
	}
}

// TestJSONLSightingsAsEncoder: sightings, which encode themselves, come
// out of a JSONL stream as json.Encoder writes them; a full disk is still
// an error.
func TestJSONLSightingsAsEncoder(t *testing.T) {
	f := fixtureReport()
	var got, want bytes.Buffer
	out, err := NewStream[records.Sighting](&got, FormatJSONL, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(&want)
	ss := append(f.Sightings, records.Sighting{Issuer: "CN=<&>", Names: []string{"\u2028", "x\x00.example"}})
	for _, s := range ss {
		if err := out.Write(s); err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("jsonl:\n%s\nencoder:\n%s", got.String(), want.String())
	}
	full, _ := NewStream[records.Sighting](fullDisk{}, FormatJSONL, nil)
	if err := full.Write(ss[0]); !errors.Is(err, errNoSpace) {
		t.Fatalf("write to a full disk: %v", err)
	}
}
