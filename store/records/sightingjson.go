package records

import (
	"encoding/json"
	"strconv"
	"time"
)

// AppendJSON appends s encoded as json.Marshal encodes it, byte for byte,
// without reflection (or the encoding UseEncoding gave it): a broad CT
// watch encodes a sighting per log entry, and encoding/json's reflection
// was a tenth of such a sync's CPU. Strings that need escaping and times
// outside what JSON can hold take encoding/json's own path, so the output
// and its failures are the same.
func (s *Sighting) AppendJSON(b []byte) ([]byte, error) {
	if enc, ok := s.stored(); ok {
		return append(b, enc...), nil
	}
	if !jsonTime(s.Timestamp) || !jsonTime(s.NotBefore) || !jsonTime(s.NotAfter) {
		// encoding/json refuses such a time; let it say so.
		m, err := json.Marshal(s)
		return append(b, m...), err
	}
	b = append(b, `{"log":`...)
	b = appendJSONString(b, s.Log)
	b = append(b, `,"log_id":`...)
	b = appendJSONString(b, s.LogID)
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, s.Index, 10)
	b = append(b, `,"timestamp":`...)
	b = appendJSONTime(b, s.Timestamp)
	b = append(b, `,"cert_sha256":`...)
	b = appendJSONString(b, s.CertSHA256)
	b = append(b, `,"spki_sha256":`...)
	b = appendJSONString(b, s.SPKISHA256)
	b = append(b, `,"issuer":`...)
	b = appendJSONString(b, s.Issuer)
	b = append(b, `,"names":`...)
	b = appendJSONStrings(b, s.Names)
	b = append(b, `,"matched":`...)
	b = appendJSONStrings(b, s.Matched)
	if len(s.NULNames) > 0 {
		b = append(b, `,"nul_names":`...)
		b = appendJSONStrings(b, s.NULNames)
	}
	b = append(b, `,"precert":`...)
	b = strconv.AppendBool(b, s.Precert)
	b = append(b, `,"tbs_sha256":`...)
	b = appendJSONString(b, s.TBSSHA256)
	if s.Subject != "" {
		b = append(b, `,"subject":`...)
		b = appendJSONString(b, s.Subject)
	}
	if s.Serial != "" {
		b = append(b, `,"serial":`...)
		b = appendJSONString(b, s.Serial)
	}
	if !s.NotBefore.IsZero() {
		b = append(b, `,"not_before":`...)
		b = appendJSONTime(b, s.NotBefore)
	}
	if !s.NotAfter.IsZero() {
		b = append(b, `,"not_after":`...)
		b = appendJSONTime(b, s.NotAfter)
	}
	if s.IssuerSHA256 != "" {
		b = append(b, `,"issuer_sha256":`...)
		b = appendJSONString(b, s.IssuerSHA256)
	}
	if s.Lenient {
		b = append(b, `,"lenient":true`...)
	}
	return append(b, '}'), nil
}

// jsonTime reports whether encoding/json encodes t: its year is within
// 0..9999 and its zone offset under a day.
func jsonTime(t time.Time) bool {
	y := t.Year()
	_, off := t.Zone()
	return y >= 0 && y <= 9999 && off > -86400 && off < 86400
}

// appendJSONTime appends t as time.Time's MarshalJSON does.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendJSONStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// jsonPlain marks the bytes appendJSONString copies as they are: one
// table load per byte instead of seven comparisons (names, hashes and
// issuers of every sighting go through it).
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s quoted. Printable ASCII other than the
// characters encoding/json escapes (" \ < > &) is copied; anything else
// is left to encoding/json, which escapes it its own way.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			m, _ := json.Marshal(s) // a string always encodes
			return append(b, m...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
