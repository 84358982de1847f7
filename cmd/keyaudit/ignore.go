package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/reconcile"
)

// defaultIgnoreFile is read by reconcile when it exists in the working
// directory and no --ignore-file is given.
const defaultIgnoreFile = ".keyaudit-ignore.yaml"

// maxIgnoreFileBytes caps the ignore file.
const maxIgnoreFileBytes = 1 << 20

// loadIgnoreFile reads accepted risks: a YAML list (or {suppressions: […]})
// of entries naming a check and what it is about (subject, endpoint,
// spki_sha256, cert_sha256 or fingerprint), each with a mandatory reason
// and expiry date. explicit says the path was given by the user (a
// missing file is then an error).
func loadIgnoreFile(path string, explicit bool) ([]reconcile.Suppression, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ignore file: %w", err)
	}
	if len(b) > maxIgnoreFileBytes {
		return nil, fmt.Errorf("ignore file %s: larger than %d bytes", path, maxIgnoreFileBytes)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("ignore file %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	list := doc.Content[0]
	if list.Kind == yaml.MappingNode {
		list = nil
		for i := 0; i+1 < len(doc.Content[0].Content); i += 2 {
			if doc.Content[0].Content[i].Value == "suppressions" {
				list = doc.Content[0].Content[i+1]
			}
		}
		if list == nil {
			return nil, fmt.Errorf("ignore file %s: want a list of suppressions (or suppressions: [...])", path)
		}
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("ignore file %s:%d: want a list of suppressions", path, list.Line)
	}
	var out []reconcile.Suppression
	for _, n := range list.Content {
		var s reconcile.Suppression
		if err := strictDecode(*n, &s); err != nil {
			return nil, fmt.Errorf("ignore file %s:%d: %w", path, n.Line, err)
		}
		where := fmt.Sprintf("%s:%d", path, n.Line)
		switch {
		case s.Check == "":
			return nil, fmt.Errorf("ignore file %s: entry without check", where)
		case s.Reason == "":
			return nil, fmt.Errorf("ignore file %s: entry for %s without reason (mandatory)", where, s.Check)
		case s.Until.IsZero():
			return nil, fmt.Errorf("ignore file %s: entry for %s without until (an expiry date is mandatory)", where, s.Check)
		case s.Subject == "" && s.Endpoint == "" && s.SPKI == "" && s.Cert == "" && s.Fingerprint == "":
			return nil, fmt.Errorf("ignore file %s: entry for %s names no subject, endpoint, spki_sha256, cert_sha256 or fingerprint", where, s.Check)
		}
		if _, ok := reconcile.Lookup(s.Check); !ok {
			return nil, fmt.Errorf("ignore file %s: unknown check %q (see keyaudit checks list)", where, s.Check)
		}
		s.Source = where
		out = append(out, s)
	}
	return out, nil
}
