package ctlog

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Watchlist holds the watched domains. An entry "example.com" covers the
// domain and every subdomain; ".example.com" (or "*.example.com") covers
// subdomains only. Matching is on normalised names: lower case, no
// trailing dot, IDNs as A-labels (xn--…).
type Watchlist struct {
	// exact[d] is true when d itself is watched (not only its subdomains);
	// every key also covers its subdomains.
	domains map[string]bool
	entries []string
}

// NewWatchlist parses watch entries.
func NewWatchlist(entries []string) (*Watchlist, error) {
	w := &Watchlist{domains: map[string]bool{}}
	for _, e := range entries {
		e = dotEquivalents.Replace(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		subOnly := false
		switch {
		case strings.HasPrefix(e, "*."):
			subOnly, e = true, e[2:]
		case strings.HasPrefix(e, "."):
			subOnly, e = true, e[1:]
		}
		d, ok := NormalizeName(e)
		if !ok || d == "" || strings.Contains(d, "*") {
			return nil, fmt.Errorf("ctlog: watch %q: not a domain name", e)
		}
		w.domains[d] = w.domains[d] || !subOnly
		w.entries = append(w.entries, map[bool]string{true: ".", false: ""}[subOnly]+d)
	}
	return w, nil
}

// Entries returns the normalised watch entries as given.
func (w *Watchlist) Entries() []string { return slices.Clone(w.entries) }

// Len returns the number of watch entries.
func (w *Watchlist) Len() int {
	if w == nil {
		return 0
	}
	return len(w.entries)
}

// Match returns the watch entries (normalised, "." prefix for
// subdomain-only entries) that name covers. name is a DNS name from a
// certificate, normalised by NormalizeName; a wildcard "*.x" covers every
// one-label child of x.
func (w *Watchlist) Match(name string) []string {
	if w == nil || len(w.domains) == 0 {
		return nil
	}
	var out []string
	wild := false
	if strings.HasPrefix(name, "*.") {
		wild, name = true, name[2:]
	}
	// Walk the suffixes of name: name itself, then each parent.
	for s, first := name, true; s != ""; first = false {
		if self, ok := w.domains[s]; ok {
			switch {
			case !first:
				// name (or, for a wildcard, its children) is strictly below s.
				out = appendEntry(out, s, self)
			case wild:
				// "*.s" names children of s: subdomains of s.
				out = appendEntry(out, s, self)
			case self:
				out = append(out, s)
			}
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	if wild {
		// "*.x" also covers watched names exactly one label below x
		// ("www.x" is served by a certificate for "*.x").
		for d, self := range w.domains {
			if self && strings.HasSuffix(d, "."+name) && !strings.Contains(d[:len(d)-len(name)-1], ".") {
				out = append(out, d)
			}
		}
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out
}

// mayCover reports whether name, a raw DNS name from a certificate, may
// fall under a watch entry, without allocating: false only when it
// certainly does not (a plain lower-case ASCII name none of whose
// suffixes is watched); Match decides the rest. It keeps the cost of an
// entry that names nothing watched — nearly all of them — to a few map
// lookups.
func (w *Watchlist) mayCover(name []byte) bool {
	if w == nil || len(w.domains) == 0 {
		return false
	}
	for len(name) > 0 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_' && c != '*' {
			return true // upper case, Unicode, a NUL …: normalise first
		}
	}
	wild := len(name) > 2 && name[0] == '*' && name[1] == '.'
	if wild {
		name = name[2:]
	}
	for s := name; len(s) > 0; {
		if _, ok := w.domains[string(s)]; ok {
			return true
		}
		i := bytes.IndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	if wild {
		for d, self := range w.domains {
			if self && len(d) > len(name) && d[len(d)-len(name)-1] == '.' && d[len(d)-len(name):] == string(name) {
				return true
			}
		}
	}
	return false
}

func appendEntry(out []string, d string, self bool) []string {
	if self {
		return append(out, d)
	}
	return append(out, "."+d)
}

// dotEquivalents are the label separators IDNA2003 (RFC 3490 §3.1) reads
// as a full stop: the ideographic, fullwidth and halfwidth ideographic
// full stops. NormalizeName maps them through UTS 46; a watch entry needs
// them mapped before its "*." or "." prefix is read.
var dotEquivalents = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".")

// idnaProfile maps Unicode names to A-labels leniently: certificates in the
// wild carry names that strict registration rules reject, and the monitor
// must still see them.
var idnaProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false), idna.VerifyDNSLength(false))

// NormalizeName lower-cases a DNS name, drops trailing dots and
// converts U-labels to A-labels. ok is false for something that is not a
// DNS name at all (empty, spaces, control characters, an IP address is
// returned as is).
func NormalizeName(name string) (string, bool) {
	name = strings.TrimRight(strings.TrimSpace(name), ".")
	if name == "" || len(name) > 1024 || !utf8.ValidString(name) {
		return "", false
	}
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		if !validASCIIName(name) {
			return "", false
		}
		return strings.ToLower(name), true
	}
	wild := strings.HasPrefix(name, "*.")
	if wild {
		name = name[2:]
	}
	a, err := idnaProfile.ToASCII(name)
	if err != nil || a == "" {
		return "", false
	}
	a = strings.TrimRight(strings.ToLower(a), ".")
	if a == "" || !validASCIIName(a) {
		return "", false
	}
	if wild {
		a = "*." + a
	}
	return a, true
}

// validASCIIName rejects what cannot be part of a DNS name in a
// certificate: controls, spaces, URL and mail punctuation, non-ASCII.
func validASCIIName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == '@' || c == ':' {
			return false
		}
	}
	return true
}
