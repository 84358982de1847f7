package inventory

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/period"
	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
)

// Metadata attaches owner, purpose and cryptoperiod to the keys it
// matches — NIST SP 800-57 Part 1 §6 asks key inventories to record them.
// A rule matches a key when every selector it sets matches; a rule with no
// selector matches every key. All matching rules apply in order, a later
// rule's non-empty fields overriding an earlier one's, so general rules go
// first and exceptions after.
type Metadata struct {
	// URI is a PKCS#11 URI whose path attributes the key's URI must carry
	// (token and object may be globs): "pkcs11:token=hsm1;type=private".
	// Other URIs (cloud key ids, ARNs) match by glob, "*" spanning "/".
	URI string `yaml:"uri" json:"uri,omitempty"`
	// Label is a glob on the key's label (path.Match syntax, "*" also
	// matching "/").
	Label string `yaml:"label" json:"label,omitempty"`
	// Path is a glob on the file a key was read from.
	Path string `yaml:"path" json:"path,omitempty"`

	Owner   string `yaml:"owner" json:"owner,omitempty"`
	Purpose string `yaml:"purpose" json:"purpose,omitempty"`
	// Cryptoperiod is how long the key may be used: "2y", "90d", "6w" or a
	// Go duration ("720h").
	Cryptoperiod string `yaml:"cryptoperiod" json:"cryptoperiod,omitempty"`

	uri *pkcs11uri.URI
}

// Rules is an ordered list of Metadata, validated by Compile.
type Rules []Metadata

// Compile validates the rules: URIs parse, globs are well formed,
// cryptoperiods parse.
func (rs Rules) Compile() (Rules, error) {
	out := make(Rules, len(rs))
	for i, r := range rs {
		if r.URI != "" && pkcs11uri.IsURI(r.URI) {
			u, err := pkcs11uri.Parse(r.URI)
			if err != nil {
				return nil, fmt.Errorf("metadata %d: %w", i+1, err)
			}
			r.uri = u
		}
		for _, g := range []string{r.Label, r.Path, r.URI} {
			if _, err := path.Match(g, ""); err != nil {
				return nil, fmt.Errorf("metadata %d: bad pattern %q: %w", i+1, g, err)
			}
		}
		if r.Cryptoperiod != "" {
			if _, err := ParsePeriod(r.Cryptoperiod); err != nil {
				return nil, fmt.Errorf("metadata %d: %w", i+1, err)
			}
		}
		if r.Owner == "" && r.Purpose == "" && r.Cryptoperiod == "" {
			return nil, fmt.Errorf("metadata %d: sets none of owner, purpose, cryptoperiod", i+1)
		}
		out[i] = r
	}
	return out, nil
}

// Match reports whether the rule applies to k.
func (r *Metadata) Match(k *Key) bool {
	if r.Label != "" && !globAny(r.Label, k.Label) {
		return false
	}
	if r.Path != "" && !glob(r.Path, k.Path) {
		return false
	}
	if r.URI != "" {
		if r.uri != nil {
			if !pkcs11uri.IsURI(k.URI) {
				return false
			}
			ku, err := pkcs11uri.Parse(k.URI)
			if err != nil || !r.uri.Matches(ku) {
				return false
			}
		} else if !globAny(r.URI, k.URI) {
			return false
		}
	}
	return true
}

// globAny is glob where "*" also matches "/" (labels and ARNs hold
// slashes that are not path separators).
func globAny(pattern, s string) bool {
	return glob(strings.ReplaceAll(pattern, "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
}

func glob(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

// Apply sets owner, purpose and cryptoperiod on k from every matching rule.
func (rs Rules) Apply(k *Key) {
	for i := range rs {
		r := &rs[i]
		if !r.Match(k) {
			continue
		}
		if r.Owner != "" {
			k.Owner = r.Owner
		}
		if r.Purpose != "" {
			k.Purpose = r.Purpose
		}
		if r.Cryptoperiod != "" {
			k.Cryptoperiod = r.Cryptoperiod
		}
	}
}

// ParsePeriod parses a cryptoperiod: a whole number of years ("2y", 365
// days each), weeks ("6w") or days ("90d"), or a Go duration ("720h"), as
// every duration of keyaudit's config (period.Parse); it must be positive.
func ParsePeriod(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty cryptoperiod")
	}
	d, err := period.Parse(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("cryptoperiod %q: want a positive whole number of y, w or d, or a Go duration: e.g. 2y, 90d or 720h", s)
	}
	return d, nil
}
