package starttls

import (
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ldapStartTLSOID is the StartTLS extended operation (RFC 4511 §4.14).
const ldapStartTLSOID = "1.3.6.1.4.1.1466.20037"

// ldapStartTLSRequest is LDAPMessage{messageID 1, ExtendedRequest
// [APPLICATION 23] {requestName [0] ldapStartTLSOID}} in BER.
var ldapStartTLSRequest = func() []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1(cbasn1.Tag(0x40|0x20|23), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddBytes([]byte(ldapStartTLSOID))
			})
		})
	})
	return b.BytesOrPanic()
}()

// ldap sends the StartTLS extended request and checks the response.
func ldap(rw io.ReadWriter, _ string) error {
	fail := func(step string, err error) error {
		return &Error{Protocol: "ldap", Step: step, Err: err}
	}
	if _, err := rw.Write(ldapStartTLSRequest); err != nil {
		return fail("extended request", err)
	}
	msg, err := readBERMessage(rw)
	if err != nil {
		return fail("extended response", err)
	}
	code, diag, err := ParseLDAPExtendedResponse(msg)
	if err != nil {
		return fail("extended response", err)
	}
	switch code {
	case 0:
		return nil
	case 2, 12, 53: // protocolError, unavailableCriticalExtension, unwillingToPerform
		return &Error{Protocol: "ldap", Step: "extended response", Reply: printable(diag), Err: fmt.Errorf("%w (resultCode %d)", ErrNotOffered, code)}
	default:
		return &Error{Protocol: "ldap", Step: "extended response", Reply: printable(diag), Err: fmt.Errorf("%w (resultCode %d)", ErrRejected, code)}
	}
}

// readBERMessage reads one definite-length BER SEQUENCE, capped.
func readBERMessage(r io.Reader) ([]byte, error) {
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	if hdr[0] != 0x30 {
		return nil, fmt.Errorf("%w: not an LDAP message (tag 0x%02x)", ErrProtocol, hdr[0])
	}
	n := int(hdr[1])
	out := hdr
	if hdr[1]&0x80 != 0 {
		k := int(hdr[1] & 0x7f)
		if k == 0 || k > 3 {
			return nil, fmt.Errorf("%w: unsupported BER length form", ErrProtocol)
		}
		lb := make([]byte, k)
		if _, err := io.ReadFull(r, lb); err != nil {
			return nil, err
		}
		out = append(out, lb...)
		var buf [4]byte
		copy(buf[4-k:], lb)
		n = int(binary.BigEndian.Uint32(buf[:]))
	}
	if n > maxPacket {
		return nil, fmt.Errorf("%w: message of %d bytes exceeds %d", ErrProtocol, n, maxPacket)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(out, body...), nil
}

// ParseLDAPExtendedResponse parses an LDAPMessage carrying an
// ExtendedResponse [APPLICATION 24] and returns its resultCode and
// diagnosticMessage.
func ParseLDAPExtendedResponse(msg []byte) (code int, diag string, err error) {
	in := cryptobyte.String(msg)
	var m cryptobyte.String
	if !in.ReadASN1(&m, cbasn1.SEQUENCE) {
		return 0, "", fmt.Errorf("%w: malformed LDAPMessage", ErrProtocol)
	}
	var id int64
	if !m.ReadASN1Integer(&id) {
		return 0, "", fmt.Errorf("%w: malformed messageID", ErrProtocol)
	}
	var op cryptobyte.String
	if !m.ReadASN1(&op, cbasn1.Tag(0x40|0x20|24)) {
		return 0, "", fmt.Errorf("%w: not an ExtendedResponse", ErrProtocol)
	}
	var rc cryptobyte.String
	if !op.ReadASN1(&rc, cbasn1.ENUM) || len(rc) == 0 || len(rc) > 4 {
		return 0, "", fmt.Errorf("%w: malformed resultCode", ErrProtocol)
	}
	for _, b := range rc {
		code = code<<8 | int(b)
	}
	var matched, d cryptobyte.String
	if op.ReadASN1(&matched, cbasn1.OCTET_STRING) && op.ReadASN1(&d, cbasn1.OCTET_STRING) {
		diag = string(d)
	}
	// A Notice of Disconnection (messageID 0, RFC 4511 §4.4.1) carries its
	// failure in resultCode like any other response.
	return code, diag, nil
}
