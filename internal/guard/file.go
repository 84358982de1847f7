package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/keyaudit/keyaudit/internal/outfile"
	"github.com/keyaudit/keyaudit/store"
)

// Marshal encodes a plan as indented JSON, for files and review.
func Marshal(p any) ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteFile writes plan p to path (0644: a plan holds no secret), as
// outfile.Write does: a regular file is replaced only once the whole plan
// is written; a device, a FIFO or /dev/stdout is written through.
func WriteFile(path string, p any) error {
	b, err := Marshal(p)
	if err != nil {
		return err
	}
	return outfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Decode decodes a plan strictly: unknown fields are an error (a field
// added by hand would otherwise vanish from the hash unnoticed), and so
// is trailing data.
func Decode[T any](r io.Reader) (*T, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var p T
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if dec.More() {
		return nil, errors.New("plan: trailing data after the plan")
	}
	return &p, nil
}

// ReadFile reads a plan file strictly (Decode).
func ReadFile[T any](path string) (*T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := Decode[T](f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// LoadPlan decodes the plan of kind k recorded under id.
func LoadPlan[T any](ctx context.Context, k Kind, st store.Store, id string) (*T, error) {
	raw, err := k.Load(ctx, st, id)
	if err != nil {
		return nil, err
	}
	var p T
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("recorded plan %s: %w", id, err)
	}
	return &p, nil
}

// Save writes plan p to stdout when path is "" or "-", else to the file
// path (WriteFile), and returns where its summary for the approver goes:
// stderr when the plan itself went to stdout, else stdout.
func Save(p any, path string, stdout, stderr io.Writer) (summary io.Writer, err error) {
	if path == "" || path == "-" {
		b, err := Marshal(p)
		if err != nil {
			return nil, err
		}
		if _, err := stdout.Write(b); err != nil {
			return nil, fmt.Errorf("write plan: %w", err)
		}
		return stderr, nil
	}
	if err := WriteFile(path, p); err != nil {
		return nil, fmt.Errorf("write plan: %w", err)
	}
	return stdout, nil
}
