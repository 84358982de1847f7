// Package pkcs11uri parses and formats RFC 7512 PKCS#11 URIs, the one way
// keyaudit names tokens and objects ("pkcs11:token=hsm1;object=web-2026").
//
// A URI is a set of constraints: every attribute it carries must match,
// attributes it leaves out match anything. The PIN never appears in the
// output of String, in errors, or in any log: pin-value is parsed (so it
// can be refused with a clear message) but never printed.
package pkcs11uri

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/keyaudit/keyaudit/internal/secretfile"
)

// Limits on untrusted input.
const (
	maxURIBytes = 8 << 10 // a URI longer than this is refused
	maxPINBytes = 1 << 10 // a pin-source file larger than this is refused
)

// Errors returned by Parse and ReadPIN.
var (
	ErrSyntax    = errors.New("pkcs11uri: invalid URI")
	ErrPINSource = errors.New("pkcs11uri: pin-source")
)

// Object types of the "type" attribute (RFC 7512 §2.3).
const (
	TypePrivate   = "private"
	TypePublic    = "public"
	TypeSecretKey = "secret-key"
	TypeCert      = "cert"
	TypeData      = "data"
)

// URI is a parsed PKCS#11 URI. Zero-valued fields are absent from the URI
// (they match anything); Has* flags tell an empty value from an absent one
// where the RFC allows an empty value to mean something.
type URI struct {
	// Path attributes: token.
	Token        string
	Manufacturer string
	Serial       string
	Model        string
	// Path attributes: object.
	Object string
	Type   string // private, public, secret-key, cert, data
	ID     []byte // raw bytes (percent-decoded)
	HasID  bool
	// Path attributes: slot and library.
	SlotID              uint64
	HasSlotID           bool
	SlotDescription     string
	SlotManufacturer    string
	LibraryManufacturer string
	LibraryDescription  string
	LibraryVersion      string

	// Query attributes.
	PINSource  string // as given: "file:/path" or a path
	ModulePath string
	ModuleName string
	// PINValue is the pin-value query attribute. keyaudit refuses it (a PIN
	// in a URI ends up in argv and shell history), but parses it so the
	// refusal is precise. It is never printed.
	PINValue string

	// Vendor holds vendor-specific attributes (names with "x-"), path and
	// query alike, in the order seen.
	Vendor []Attr
}

// Attr is one attribute, used for vendor extensions.
type Attr struct {
	Name, Value string
	Query       bool
}

// Scheme is the URI scheme, with its colon.
const Scheme = "pkcs11:"

// IsURI reports whether s looks like a PKCS#11 URI (and not a path).
func IsURI(s string) bool {
	return len(s) >= len(Scheme) && strings.EqualFold(s[:len(Scheme)], Scheme)
}

// Parse parses s. Errors name the attribute at fault but never repeat
// values, so a PIN cannot leak through them.
func Parse(s string) (*URI, error) {
	if len(s) > maxURIBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrSyntax, maxURIBytes)
	}
	if !IsURI(s) {
		return nil, fmt.Errorf("%w: does not start with %q", ErrSyntax, Scheme)
	}
	rest := s[len(Scheme):]
	pathPart, queryPart, hasQuery := strings.Cut(rest, "?")
	if strings.ContainsAny(queryPart, "#") || strings.Contains(pathPart, "#") {
		return nil, fmt.Errorf("%w: fragment not allowed", ErrSyntax)
	}
	u := &URI{}
	seen := map[string]bool{}
	if pathPart != "" {
		for _, a := range strings.Split(pathPart, ";") {
			if err := u.setPath(a, seen); err != nil {
				return nil, err
			}
		}
	}
	if hasQuery && queryPart != "" {
		for _, a := range strings.Split(queryPart, "&") {
			if err := u.setQuery(a, seen); err != nil {
				return nil, err
			}
		}
	}
	return u, nil
}

func splitAttr(a string) (name, raw string, err error) {
	name, raw, ok := strings.Cut(a, "=")
	if !ok || name == "" {
		// Not quoted: without "=" there is no telling a name from a value.
		return "", "", fmt.Errorf("%w: an attribute is not name=value", ErrSyntax)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return "", "", fmt.Errorf("%w: bad attribute name %q", ErrSyntax, redactName(name))
		}
	}
	return strings.ToLower(name), raw, nil
}

// redactName keeps error messages short and free of values.
func redactName(s string) string {
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[:i]
	}
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return s
}

func (u *URI) setPath(a string, seen map[string]bool) error {
	name, raw, err := splitAttr(a)
	if err != nil {
		return err
	}
	if seen[name] {
		return fmt.Errorf("%w: attribute %q given twice", ErrSyntax, name)
	}
	seen[name] = true
	v, err := unescape(raw)
	if err != nil {
		return fmt.Errorf("%w: attribute %q: %v", ErrSyntax, name, err)
	}
	switch name {
	case "token":
		u.Token = v
	case "manufacturer":
		u.Manufacturer = v
	case "serial":
		u.Serial = v
	case "model":
		u.Model = v
	case "object":
		u.Object = v
	case "type":
		switch v {
		case TypePrivate, TypePublic, TypeSecretKey, TypeCert, TypeData:
		default:
			return fmt.Errorf("%w: type must be private, public, secret-key, cert or data", ErrSyntax)
		}
		u.Type = v
	case "id":
		u.ID, u.HasID = []byte(v), true
	case "slot-id":
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: slot-id must be a decimal number", ErrSyntax)
		}
		u.SlotID, u.HasSlotID = n, true
	case "slot-description":
		u.SlotDescription = v
	case "slot-manufacturer":
		u.SlotManufacturer = v
	case "library-manufacturer":
		u.LibraryManufacturer = v
	case "library-description":
		u.LibraryDescription = v
	case "library-version":
		if !validVersion(v) {
			return fmt.Errorf("%w: library-version must be M or M.N", ErrSyntax)
		}
		u.LibraryVersion = v
	default:
		if !strings.HasPrefix(name, "x-") {
			return fmt.Errorf("%w: unknown path attribute %q", ErrSyntax, name)
		}
		u.Vendor = append(u.Vendor, Attr{Name: name, Value: v})
	}
	return nil
}

func (u *URI) setQuery(a string, seen map[string]bool) error {
	name, raw, err := splitAttr(a)
	if err != nil {
		return err
	}
	key := "?" + name
	if seen[key] {
		return fmt.Errorf("%w: query attribute %q given twice", ErrSyntax, name)
	}
	seen[key] = true
	v, err := unescape(raw)
	if err != nil {
		return fmt.Errorf("%w: attribute %q: %v", ErrSyntax, name, err)
	}
	switch name {
	case "pin-source":
		u.PINSource = v
	case "pin-value":
		u.PINValue = v
	case "module-path":
		u.ModulePath = v
	case "module-name":
		u.ModuleName = v
	default:
		if !strings.HasPrefix(name, "x-") {
			return fmt.Errorf("%w: unknown query attribute %q", ErrSyntax, name)
		}
		u.Vendor = append(u.Vendor, Attr{Name: name, Value: v, Query: true})
	}
	return nil
}

func validVersion(v string) bool {
	maj, min, dot := strings.Cut(v, ".")
	if _, err := strconv.ParseUint(maj, 10, 8); err != nil {
		return false
	}
	if dot {
		if _, err := strconv.ParseUint(min, 10, 8); err != nil {
			return false
		}
	}
	return true
}

// unescape decodes %XX sequences. Unlike url.PathUnescape it keeps '+'.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("truncated percent-encoding")
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", errors.New("bad percent-encoding")
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// pchar characters allowed unescaped in path attribute values (RFC 7512
// p11-pchar: unreserved / p11-res-avail / pct-encoded, with ":" and "@").
func isPathChar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte(":[]@!$'()*+,=&", c) >= 0
}

// qchar: characters allowed unescaped in query values.
func isQueryChar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte(":[]@!$'()*+,=/?|;", c) >= 0
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0
}

func escape(s string, ok func(byte) bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ok(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// EscapeID percent-encodes every byte of id, the RFC's canonical form.
func EscapeID(id []byte) string {
	var b strings.Builder
	for _, c := range id {
		fmt.Fprintf(&b, "%%%02x", c)
	}
	return b.String()
}

// String formats u canonically: path attributes in RFC order, then the
// query. pin-value is never written; pin-source is (it names a file, not
// the PIN).
func (u *URI) String() string { return u.format(true) }

// Path formats only the path part (what names tokens and objects).
func (u *URI) Path() string { return u.format(false) }

func (u *URI) format(query bool) string {
	var parts []string
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, name+"="+escape(v, isPathChar))
		}
	}
	add("library-manufacturer", u.LibraryManufacturer)
	add("library-description", u.LibraryDescription)
	add("library-version", u.LibraryVersion)
	add("slot-manufacturer", u.SlotManufacturer)
	add("slot-description", u.SlotDescription)
	if u.HasSlotID {
		parts = append(parts, "slot-id="+strconv.FormatUint(u.SlotID, 10))
	}
	add("model", u.Model)
	add("manufacturer", u.Manufacturer)
	add("serial", u.Serial)
	add("token", u.Token)
	add("object", u.Object)
	if u.HasID {
		parts = append(parts, "id="+EscapeID(u.ID))
	}
	add("type", u.Type)
	for _, v := range u.Vendor {
		if !v.Query {
			parts = append(parts, v.Name+"="+escape(v.Value, isPathChar))
		}
	}
	s := Scheme + strings.Join(parts, ";")
	if !query {
		return s
	}
	var q []string
	addq := func(name, v string) {
		if v != "" {
			q = append(q, name+"="+escape(v, isQueryChar))
		}
	}
	addq("module-name", u.ModuleName)
	addq("module-path", u.ModulePath)
	addq("pin-source", u.PINSource)
	for _, v := range u.Vendor {
		if v.Query {
			q = append(q, v.Name+"="+escape(v.Value, isQueryChar))
		}
	}
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}

// Attributes returns the path attributes as a map (name → value, id as
// percent-encoded bytes). Used to match a URI given in config against the
// URI of an object.
func (u *URI) Attributes() map[string]string {
	m := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("token", u.Token)
	set("manufacturer", u.Manufacturer)
	set("serial", u.Serial)
	set("model", u.Model)
	set("object", u.Object)
	set("type", u.Type)
	if u.HasID {
		m["id"] = EscapeID(u.ID)
	}
	if u.HasSlotID {
		m["slot-id"] = strconv.FormatUint(u.SlotID, 10)
	}
	set("slot-description", u.SlotDescription)
	set("slot-manufacturer", u.SlotManufacturer)
	set("library-manufacturer", u.LibraryManufacturer)
	set("library-description", u.LibraryDescription)
	set("library-version", u.LibraryVersion)
	return m
}

// Matches reports whether every path attribute of pattern is present in u
// with an equal value — RFC 7512 §3.3 matching. The token and object
// values of pattern may be shell globs (path.Match), a keyaudit extension
// for config.
func (pattern *URI) Matches(u *URI) bool {
	have := u.Attributes()
	want := pattern.Attributes()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, ok := have[k]
		if !ok {
			return false
		}
		if k == "token" || k == "object" {
			if m, err := path.Match(want[k], w); err == nil && m {
				continue
			}
		}
		if w != want[k] {
			return false
		}
	}
	return true
}

// PINFile returns the file named by pin-source ("file:/p", "file:///p" or
// a bare path), or "" when there is none.
func (u *URI) PINFile() (string, error) {
	s := u.PINSource
	if s == "" {
		return "", nil
	}
	switch {
	case strings.HasPrefix(s, "file://"):
		rest := s[len("file://"):]
		if !strings.HasPrefix(rest, "/") {
			return "", fmt.Errorf("%w: only local file: URIs are supported", ErrPINSource)
		}
		return rest, nil
	case strings.HasPrefix(s, "file:"):
		return s[len("file:"):], nil
	case strings.Contains(s, ":") && !strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "."):
		return "", fmt.Errorf("%w: only file: is supported", ErrPINSource)
	}
	return s, nil
}

// ReadPIN reads the PIN named by pin-source: the file's content without a
// trailing newline. A file its group or others may read is refused or
// warned about as secrets says (secretfile.Policy). The error names the
// file, never its content.
func (u *URI) ReadPIN(secrets secretfile.Policy) (string, error) {
	p, err := u.PINFile()
	if err != nil || p == "" {
		return "", err
	}
	// Only a regular file: opening a FIFO would block (and ignore
	// signals) until something writes to it. Opened non-blocking, then
	// checked on the descriptor itself, so a swap between the two cannot
	// slip one in.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPINSource, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrPINSource, p, err)
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file (%s)", ErrPINSource, p, fi.Mode().Type())
	} else if err := secrets.Check("pin-source file", p, fi.Mode()); err != nil {
		return "", err // a *secretfile.ModeError: it names pin-source
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPINBytes+1))
	if err != nil {
		return "", fmt.Errorf("%w: read %s: %w", ErrPINSource, p, err)
	}
	if len(b) > maxPINBytes {
		return "", fmt.Errorf("%w: %s is larger than %d bytes", ErrPINSource, p, maxPINBytes)
	}
	pin := strings.TrimRight(string(b), "\r\n")
	if pin == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrPINSource, p)
	}
	return pin, nil
}
