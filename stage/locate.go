package stage

import (
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
)

// configEntry is one line of the config that configures something a
// finding can be about.
type configEntry struct {
	line int
	// a scan target
	host, port string
	prefix     netip.Prefix
	// a watched domain ("example.com", or ".example.com": subdomains only)
	domain  string
	subOnly bool
	// an inventory source
	pkcs11Token string
	paths       []string
	uriPrefix   string // kmip://host:port
	awsRegion   string
}

// ConfigLocator returns the reports.Locator of the config file at path
// (cfg, its parsed top-level keys): a finding about an endpoint is placed
// at the scan target that names it (host, or CIDR holding its address),
// else at the watched domain covering its host; a finding about an
// inventory key at its source's entry (PKCS#11 token, file path, KMIP
// server, AWS region); a CAA or CT finding at the watched domain covering
// its name (the most specific). A nil cfg or an empty path locates
// nothing.
func ConfigLocator(path string, cfg map[string]yaml.Node) reports.Locator {
	if path == "" || cfg == nil {
		return nil
	}
	var targets, domains, sources []configEntry
	if scan, ok := cfg["scan"]; ok {
		for _, n := range seqOf(mapValue(&scan, "targets")) {
			if e, ok := targetEntry(n); ok {
				targets = append(targets, e)
			}
		}
	}
	if watch, ok := cfg["watch"]; ok {
		for _, n := range seqOf(&watch) {
			d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n.Value), "."))
			if d == "" || n.Kind != yaml.ScalarNode {
				continue
			}
			e := configEntry{line: n.Line, domain: strings.TrimPrefix(d, ".")}
			e.subOnly = strings.HasPrefix(d, ".")
			domains = append(domains, e)
		}
	}
	if inv, ok := cfg["inventory"]; ok {
		for _, n := range seqOf(mapValue(&inv, "sources")) {
			if e, ok := sourceEntry(n); ok {
				sources = append(sources, e)
			}
		}
	}
	if len(targets)+len(domains)+len(sources) == 0 {
		return nil
	}
	domainLine := func(name string) int {
		best, line := -1, 0
		for _, d := range domains {
			if covers(d, name) && len(d.domain) > best {
				best, line = len(d.domain), d.line
			}
		}
		return line
	}
	return func(f reconcile.Finding) (string, int) {
		if ep, ok := reports.ParseEndpoint(f.Endpoint); ok {
			for _, t := range targets {
				if t.matches(ep) {
					return path, t.line
				}
			}
			if l := domainLine(ep.Host); l > 0 {
				return path, l
			}
		}
		if f.Source != "" {
			for _, s := range sources {
				if s.holds(f.Source) {
					return path, s.line
				}
			}
		}
		if d := reports.DomainOf(f); d != "" {
			if l := domainLine(d); l > 0 {
				return path, l
			}
		}
		return "", 0
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func seqOf(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// targetEntry reads a scan target: [proto://]host[:port], an address or
// a CIDR range.
func targetEntry(n *yaml.Node) (configEntry, bool) {
	if n.Kind != yaml.ScalarNode {
		return configEntry{}, false
	}
	v := strings.TrimSpace(n.Value)
	if _, rest, ok := strings.Cut(v, "://"); ok {
		v = rest
	}
	v = strings.TrimSuffix(v, "/")
	e := configEntry{line: n.Line}
	if p, err := netip.ParsePrefix(v); err == nil {
		e.prefix = p.Masked()
		return e, true
	}
	if h, p, err := net.SplitHostPort(v); err == nil {
		e.host, e.port = h, p
	} else {
		e.host = strings.Trim(v, "[]")
	}
	e.host = strings.ToLower(e.host)
	return e, e.host != ""
}

func (e configEntry) matches(ep reports.Endpoint) bool {
	if e.prefix.IsValid() {
		a, err := netip.ParseAddr(ep.IP)
		return err == nil && e.prefix.Contains(a.Unmap())
	}
	if e.port != "" && e.port != ep.Port {
		return false
	}
	return e.host == ep.Host || e.host == strings.ToLower(ep.IP)
}

func covers(d configEntry, name string) bool {
	if d.domain == "" {
		return false
	}
	if name == d.domain {
		return !d.subOnly
	}
	return strings.HasSuffix(name, "."+d.domain)
}

// sourceEntry reads an inventory source entry.
func sourceEntry(n *yaml.Node) (configEntry, bool) {
	if n.Kind != yaml.MappingNode {
		return configEntry{}, false
	}
	e := configEntry{line: n.Line}
	str := func(k string) string {
		if v := mapValue(n, k); v != nil && v.Kind == yaml.ScalarNode {
			return strings.TrimSpace(v.Value)
		}
		return ""
	}
	if u := str("pkcs11"); u != "" {
		e.pkcs11Token = pkcs11Attr(u, "token")
	}
	if p := str("path"); p != "" {
		e.paths = append(e.paths, filepath.Clean(p))
	}
	for _, p := range seqOf(mapValue(n, "paths")) {
		if p.Kind == yaml.ScalarNode && p.Value != "" {
			e.paths = append(e.paths, filepath.Clean(p.Value))
		}
	}
	if u := str("kmip"); u != "" {
		e.uriPrefix = strings.TrimSuffix(u, "/")
	}
	if u := str("awskms"); u != "" {
		e.awsRegion = strings.Trim(strings.TrimPrefix(u, "awskms://"), "/")
	}
	return e, e.pkcs11Token != "" || len(e.paths) > 0 || e.uriPrefix != "" || e.awsRegion != ""
}

// holds reports whether a finding's source (a key's PKCS#11 URI, file,
// KMIP URI or ARN) comes from this inventory source.
func (e configEntry) holds(src string) bool {
	switch {
	case strings.HasPrefix(src, "pkcs11:"):
		return e.pkcs11Token != "" && pkcs11Attr(src, "token") == e.pkcs11Token
	case strings.HasPrefix(src, "arn:aws:kms:"):
		parts := strings.SplitN(src, ":", 5)
		return e.awsRegion != "" && len(parts) > 3 && parts[3] == e.awsRegion
	case e.uriPrefix != "" && strings.HasPrefix(src, e.uriPrefix):
		return true
	}
	for _, p := range e.paths {
		s := filepath.Clean(src)
		if s == p || strings.HasPrefix(s, p+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// pkcs11Attr returns a path attribute of an RFC 7512 URI, unescaped.
func pkcs11Attr(uri, name string) string {
	rest := strings.TrimPrefix(uri, "pkcs11:")
	rest, _, _ = strings.Cut(rest, "?")
	for _, kv := range strings.Split(rest, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			if u, err := url.PathUnescape(v); err == nil {
				return u
			}
			return v
		}
	}
	return ""
}
