package ctlog

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Type is the API a log serves.
type Type string

// Log types.
const (
	RFC6962 Type = "rfc6962" // get-sth, get-entries (RFC 6962 §4)
	Static  Type = "static"  // c2sp.org/static-ct-api checkpoint and tiles
)

// ParseType parses a --log-type value.
func ParseType(s string) (Type, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "rfc6962", "rfc-6962", "6962", "":
		return RFC6962, nil
	case "static", "static-ct-api", "tiled", "tiles":
		return Static, nil
	}
	return "", fmt.Errorf("ctlog: unknown log type %q (want rfc6962 or static)", s)
}

// Log is one CT log to follow.
type Log struct {
	// Description is a human name, from the log list or the config.
	Description string `json:"description,omitempty"`
	// URL is the RFC 6962 base URL or the static-ct-api monitoring prefix.
	URL  string `json:"url"`
	Type Type   `json:"type"`
	// Key is the log's public key (ECDSA P-256 or RSA) and KeyDER its
	// DER SubjectPublicKeyInfo.
	Key    crypto.PublicKey `json:"-"`
	KeyDER []byte           `json:"-"`
	// ID is the RFC 6962 log ID: base64 of SHA-256 of KeyDER.
	ID string `json:"log_id"`
	// Origin, when set, is the checkpoint origin line a static log must
	// sign (--log-origin, the config, or the log list's submission_url):
	// a checkpoint signed for another is a *ConfigError. Empty accepts the
	// origin of the first checkpoint verified; either way a log whose
	// checkpoints change origin after one verified misbehaves.
	Origin string `json:"origin,omitempty"`
	// State is the log list state (usable, qualified, readonly …); empty
	// for configured logs.
	State string `json:"state,omitempty"`
	// FinalTreeSize is set for readonly logs: the size they froze at.
	FinalTreeSize uint64 `json:"final_tree_size,omitempty"`
}

// NewLog builds a Log from a URL, a public key (PEM, DER, base64 DER or a
// file holding any of these) and a type.
func NewLog(rawURL, key string, typ Type) (Log, error) {
	pub, der, err := ParsePublicKey(key)
	if err != nil {
		return Log{}, err
	}
	l := Log{URL: rawURL, Type: typ, Key: pub, KeyDER: der, ID: LogID(der)}
	return l, l.Validate()
}

// Validate rejects a Log that cannot be followed.
func (l Log) Validate() error {
	u, err := url.Parse(l.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("ctlog: log URL %q: want an http(s) URL", l.URL)
	}
	if l.Type != RFC6962 && l.Type != Static {
		return fmt.Errorf("ctlog: log %s: unknown type %q", l.URL, l.Type)
	}
	if l.Key == nil || len(l.KeyDER) == 0 {
		return fmt.Errorf("ctlog: log %s: no public key", l.URL)
	}
	if l.ID != LogID(l.KeyDER) {
		return fmt.Errorf("ctlog: log %s: log ID %s does not match its key", l.URL, l.ID)
	}
	return nil
}

// Name is how the log is shown: its description, or its URL.
func (l Log) Name() string {
	if l.Description != "" {
		return l.Description
	}
	return l.URL
}

// baseURL is URL with exactly one trailing slash.
func (l Log) baseURL() string { return strings.TrimRight(l.URL, "/") + "/" }

// LogID returns the RFC 6962 log ID of a DER public key, base64.
func LogID(keyDER []byte) string {
	h := sha256.Sum256(keyDER)
	return base64.StdEncoding.EncodeToString(h[:])
}

// maxKeyFile caps a key file read.
const maxKeyFile = 64 << 10

// ParsePublicKey accepts a path to a PEM or DER key file, a PEM block, or
// base64 DER (the form log lists use) and returns the key and its DER.
func ParsePublicKey(s string) (crypto.PublicKey, []byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil, errors.New("ctlog: empty public key")
	}
	data := []byte(s)
	if !strings.Contains(s, "-----BEGIN") {
		if st, err := os.Stat(s); err == nil && !st.IsDir() {
			if st.Size() > maxKeyFile {
				return nil, nil, fmt.Errorf("ctlog: key file %s too large", s)
			}
			b, err := os.ReadFile(s)
			if err != nil {
				return nil, nil, fmt.Errorf("ctlog: key: %w", err)
			}
			data = b
		}
	}
	var der []byte
	if blk, _ := pem.Decode(data); blk != nil {
		der = blk.Bytes
	} else if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(data)), "")); err == nil && len(data) < maxKeyFile && isPrintable(data) {
		der = b
	} else {
		der = data
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, nil, fmt.Errorf("ctlog: public key: %w", err)
	}
	return pub, der, nil
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x09 || c > 0x7e {
			return false
		}
	}
	return true
}
