package guard

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestSave: a plan to stdout ("" or "-") leaves stderr for its summary; a
// plan to a file leaves stdout; a file that cannot be written is an error.
func TestSave(t *testing.T) {
	p := map[string]string{"id": "plan-1"}
	want, _ := Marshal(p)
	for _, path := range []string{"", "-"} {
		var out, errw bytes.Buffer
		w, err := Save(p, path, &out, &errw)
		if err != nil || w != &errw || !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("path %q: summary to %v, plan %q, %v", path, w, out.String(), err)
		}
	}
	var out, errw bytes.Buffer
	file := filepath.Join(t.TempDir(), "plan.json")
	w, err := Save(p, file, &out, &errw)
	got, _ := os.ReadFile(file)
	if err != nil || w != &out || out.Len() != 0 || !bytes.Equal(got, want) {
		t.Fatalf("file: summary to %v, file %q, stdout %q, %v", w, got, out.String(), err)
	}
	if _, err := Save(p, filepath.Join(t.TempDir(), "missing", "plan.json"), &out, &errw); err == nil {
		t.Fatal("a plan into a missing folder was saved")
	}
}
