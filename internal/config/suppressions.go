package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/reconcile"
)

// DefaultIgnoreFile is the ignore file reconcile reads when it exists in
// the working directory and none is given.
const DefaultIgnoreFile = ".keyaudit-ignore.yaml"

// MaxIgnoreFileBytes caps the ignore file.
const MaxIgnoreFileBytes = 1 << 20

// CheckSuppressions validates the config's "suppressions:" setting:
// DecodeSuppressions, every problem returned (errors.Join).
func CheckSuppressions(node yaml.Node) error {
	_, err := DecodeSuppressions(node)
	return err
}

// suppressionAliases are trivy's ignore-file keys (.trivyignore.yaml),
// accepted for keyaudit's: id for check, statement for reason,
// expired_at for until.
var suppressionAliases = map[string]string{"id": "check", "statement": "reason", "expired_at": "until"}

// decodeSuppression decodes one entry strictly, trivy's key names
// accepted as aliases.
func decodeSuppression(n *yaml.Node) (reconcile.Suppression, error) {
	var s reconcile.Suppression
	if n.Kind == yaml.MappingNode {
		c := *n
		c.Content = append([]*yaml.Node(nil), n.Content...)
		has := map[string]bool{}
		for i := 0; i+1 < len(c.Content); i += 2 {
			has[c.Content[i].Value] = true
		}
		for i := 0; i+1 < len(c.Content); i += 2 {
			alias := c.Content[i].Value
			canon, ok := suppressionAliases[alias]
			if !ok {
				continue
			}
			if has[canon] {
				return s, fmt.Errorf("both %s and %s (the same key, in trivy's spelling and keyaudit's)", alias, canon)
			}
			k := *c.Content[i]
			k.Value = canon
			c.Content[i] = &k
		}
		n = &c
	}
	err := StrictDecode(*n, &s)
	return s, err
}

// DecodeSuppressions decodes the config's "suppressions:" setting: a
// list of entries each naming a known check, with a reason and an expiry
// date (until) — an accepted risk is accepted for a time, everywhere it
// is written. Every problem is returned (errors.Join).
func DecodeSuppressions(node yaml.Node) ([]reconcile.Suppression, error) {
	if node.Kind == 0 {
		return nil, nil
	}
	if node.Kind != yaml.SequenceNode {
		return nil, errors.New("want a list of suppressions")
	}
	var out []reconcile.Suppression
	var errs []error
	for i, n := range node.Content {
		x, err := decodeSuppression(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("suppression %d: %w", i+1, err))
			continue
		}
		bad := len(errs)
		if x.Reason == "" {
			errs = append(errs, fmt.Errorf("suppression %d (%s) has no reason", i+1, x.Check))
		}
		if x.Until.IsZero() {
			errs = append(errs, fmt.Errorf("suppression %d (%s) has no until: an accepted risk needs an expiry date", i+1, x.Check))
		}
		if _, ok := reconcile.Lookup(x.Check); !ok {
			errs = append(errs, fmt.Errorf("suppression %d names unknown check %q", i+1, x.Check))
		}
		if len(errs) == bad {
			out = append(out, x)
		}
	}
	return out, errors.Join(errs...)
}

// CheckPolicy validates the config's "policy:" setting: a
// reconcile.Policy with no unknown fields whose severity overrides name
// registered checks and known severities.
func CheckPolicy(node yaml.Node) error {
	var p reconcile.Policy
	if err := StrictDecode(node, &p); err != nil {
		return err
	}
	return p.Check()
}

// IgnoreFile reads the accepted risks of --ignore-file path, or of
// DefaultIgnoreFile when path is empty (a missing default file means
// none).
func IgnoreFile(path string) ([]reconcile.Suppression, error) {
	if path == "" {
		return LoadIgnoreFile(DefaultIgnoreFile, false)
	}
	return LoadIgnoreFile(path, true)
}

// LoadIgnoreFile reads accepted risks from path (see ParseIgnoreFile).
// explicit says the path was given by the user: a missing file is then an
// error, otherwise it means no accepted risks.
func LoadIgnoreFile(path string, explicit bool) ([]reconcile.Suppression, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ignore file: %w", err)
	}
	return ParseIgnoreFile(b, path)
}

// ParseIgnoreFile parses an ignore file read from path: a YAML list (or
// {suppressions: […]}) of entries naming a check and what it is about
// (subject, endpoint, spki_sha256, cert_sha256 or fingerprint), each with
// a mandatory reason and expiry date (until). Each suppression's Source
// is path:line.
func ParseIgnoreFile(b []byte, path string) ([]reconcile.Suppression, error) {
	if len(b) > MaxIgnoreFileBytes {
		return nil, fmt.Errorf("ignore file %s: larger than %d bytes", path, MaxIgnoreFileBytes)
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
			// misconfigurations: is trivy's name for such a list.
			if k := doc.Content[0].Content[i].Value; k == "suppressions" || k == "misconfigurations" {
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
		s, err := decodeSuppression(n)
		if err != nil {
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
