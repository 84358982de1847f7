package reports

import (
	"net"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

// Locator names the file and line that configure what a finding is about
// (the scan target, watched domain or inventory source of the config), or
// "" when none does. SARIF uses it to give every result a place in the
// repository; see stage.ConfigLocator.
type Locator func(f reconcile.Finding) (path string, line int)

// Endpoint is a finding's endpoint name taken apart: "tls://host:443
// (192.0.2.1) [sni]" is Proto tls, Host host, Port 443, IP 192.0.2.1.
type Endpoint struct {
	Proto, Host, Port, IP string
}

// ParseEndpoint parses an endpoint name as reconcile.EndpointName writes
// it. CT entries ("ct://…") and other names are not endpoints.
func ParseEndpoint(ep string) (Endpoint, bool) {
	proto, rest, ok := strings.Cut(ep, "://")
	if !ok || proto == "ct" {
		return Endpoint{}, false
	}
	if i := strings.LastIndex(rest, " ["); i >= 0 && strings.HasSuffix(rest, "]") {
		rest = rest[:i]
	}
	e := Endpoint{Proto: proto}
	if i := strings.LastIndex(rest, " ("); i >= 0 && strings.HasSuffix(rest, ")") {
		rest, e.IP = rest[:i], rest[i+2:len(rest)-1]
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || host == "" {
		return Endpoint{}, false
	}
	e.Host, e.Port = strings.ToLower(host), port
	if e.IP == "" && net.ParseIP(host) != nil {
		e.IP = host
	}
	return e, true
}

// DomainOf returns the DNS name a finding without an endpoint is about
// (a CAA or CT finding's subject), or "".
func DomainOf(f reconcile.Finding) string {
	s := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(f.Subject)), ".")
	s = strings.TrimPrefix(s, "*.")
	if s == "" || !strings.Contains(s, ".") || net.ParseIP(s) != nil {
		return ""
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return ""
		}
	}
	return s
}

// Synthetic paths give a finding that no file configures a stable place
// in the repository (GitHub code scanning wants a file for every result):
//
//	keyaudit/endpoints/<host>_<port>     a scanned endpoint
//	keyaudit/domains/<name>              a DNS name (CAA, CT)
//	keyaudit/keys/<source>/<key>         an inventory key (pkcs11/<token>/<object>, file/<path>, kms/<id>)
//	keyaudit/certificates/<sha256>       a certificate seen nowhere else
//	keyaudit/checks/<check>              anything else
//
// Segments keep letters, digits, '.', '-' and '_'; anything else becomes
// '_'. The README documents the scheme.
const syntheticRoot = "keyaudit/"

// SyntheticPath returns f's synthetic path.
func SyntheticPath(f reconcile.Finding) string {
	if e, ok := ParseEndpoint(f.Endpoint); ok {
		return syntheticRoot + "endpoints/" + segment(e.Host+"_"+e.Port)
	}
	if f.Source != "" && !isCTEntry(f.Source) {
		return syntheticRoot + "keys/" + keyPath(f.Source)
	}
	if d := DomainOf(f); d != "" {
		return syntheticRoot + "domains/" + segment(d)
	}
	switch {
	case f.CertSHA256 != "":
		return syntheticRoot + "certificates/" + segment(f.CertSHA256)
	case f.SPKISHA256 != "":
		return syntheticRoot + "keys/spki/" + segment(f.SPKISHA256)
	}
	return syntheticRoot + "checks/" + segment(f.Check)
}

// isCTEntry tells a CT log entry ("https://log.example/2026h2#42") from
// a key's source.
func isCTEntry(src string) bool {
	return strings.Contains(src, "://") && strings.Contains(src, "#")
}

// keyPath turns a key's source (a PKCS#11 URI, a file path, a key
// manager's URI or ARN) into path segments.
func keyPath(src string) string {
	if rest, ok := strings.CutPrefix(src, "pkcs11:"); ok {
		attrs := map[string]string{}
		path, _, _ := strings.Cut(rest, "?")
		for _, kv := range strings.Split(path, ";") {
			k, v, _ := strings.Cut(kv, "=")
			attrs[k] = v
		}
		out := "pkcs11/" + segment(attrs["token"])
		for _, k := range []string{"object", "id", "type"} {
			if attrs[k] != "" {
				out += "/" + segment(attrs[k])
			}
		}
		return out
	}
	if !hasScheme(src) {
		var parts []string
		for _, p := range strings.Split(strings.ReplaceAll(src, "\\", "/"), "/") {
			if p != "" && p != "." && p != ".." {
				parts = append(parts, segment(p))
			}
		}
		return "file/" + strings.Join(parts, "/")
	}
	scheme, rest, _ := strings.Cut(src, ":")
	var parts []string
	for _, p := range strings.FieldsFunc(rest, func(r rune) bool { return r == '/' || r == ':' }) {
		parts = append(parts, segment(p))
	}
	return segment(scheme) + "/" + strings.Join(parts, "/")
}

// segment makes s one safe path segment.
func segment(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	out := string(b)
	if strings.Trim(out, ".") == "" {
		return "_"
	}
	if len(out) > 120 {
		out = out[:120]
	}
	return out
}
