package starttls

import (
	"fmt"
	"io"
)

// postgresSSLRequest is Int32(8) Int32(80877103) (PostgreSQL protocol
// §55.2.10 "SSL Session Encryption").
var postgresSSLRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// postgres sends SSLRequest; the server answers one byte: 'S' (go on with
// TLS) or 'N' (no TLS). Old servers may send an 'E' ErrorResponse.
func postgres(rw io.ReadWriter, _ string) error {
	if _, err := rw.Write(postgresSSLRequest); err != nil {
		return &Error{Protocol: "postgres", Step: "SSLRequest", Err: err}
	}
	var b [1]byte
	if _, err := io.ReadFull(rw, b[:]); err != nil {
		return &Error{Protocol: "postgres", Step: "SSLRequest", Err: err}
	}
	switch b[0] {
	case 'S':
		return nil
	case 'N':
		return &Error{Protocol: "postgres", Step: "SSLRequest", Reply: "N", Err: ErrNotOffered}
	case 'E':
		return &Error{Protocol: "postgres", Step: "SSLRequest", Reply: "E", Err: ErrRejected}
	}
	return &Error{Protocol: "postgres", Step: "SSLRequest", Err: fmt.Errorf("%w: byte 0x%02x", ErrProtocol, b[0])}
}
