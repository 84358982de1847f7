package starttls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// MySQL capability flags (client/server protocol, Connection Phase).
const (
	mysqlClientLongPassword     = 0x00000001
	mysqlClientProtocol41       = 0x00000200
	mysqlClientSSL              = 0x00000800
	mysqlClientSecureConnection = 0x00008000
	mysqlClientPluginAuth       = 0x00080000
)

// MySQLGreeting is what keyaudit reads of a HandshakeV10 packet.
type MySQLGreeting struct {
	Version      string
	Capabilities uint32
}

// mysql reads the server greeting, checks CLIENT_SSL and sends an
// SSLRequest packet, after which the client starts TLS.
func mysql(rw io.ReadWriter, _ string) error {
	fail := func(step, reply string, err error) error {
		return &Error{Protocol: "mysql", Step: step, Reply: printable(reply), Err: err}
	}
	payload, seq, err := readMySQLPacket(rw)
	if err != nil {
		return fail("greeting", "", err)
	}
	g, err := ParseMySQLGreeting(payload)
	if err != nil {
		return fail("greeting", printableBytes(payload), err)
	}
	if g.Capabilities&mysqlClientSSL == 0 {
		return fail("greeting", g.Version, ErrNotOffered)
	}
	req := make([]byte, 4+32)
	req[0] = 32
	req[3] = seq + 1
	caps := uint32(mysqlClientSSL | mysqlClientProtocol41 | mysqlClientSecureConnection | mysqlClientLongPassword | mysqlClientPluginAuth)
	binary.LittleEndian.PutUint32(req[4:], caps)
	binary.LittleEndian.PutUint32(req[8:], 1<<24)
	req[12] = 0x21 // utf8_general_ci
	if _, err := rw.Write(req); err != nil {
		return fail("SSLRequest", "", err)
	}
	return nil
}

func readMySQLPacket(r io.Reader) ([]byte, byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n > maxPacket {
		return nil, 0, fmt.Errorf("%w: packet of %d bytes exceeds %d", ErrProtocol, n, maxPacket)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, 0, err
	}
	return p, hdr[3], nil
}

// ParseMySQLGreeting parses a HandshakeV10 payload (or reports the ERR
// packet a server sends to refuse the client).
func ParseMySQLGreeting(p []byte) (MySQLGreeting, error) {
	var g MySQLGreeting
	if len(p) == 0 {
		return g, fmt.Errorf("%w: empty greeting", ErrProtocol)
	}
	if p[0] == 0xff {
		msg := ""
		if len(p) > 3 {
			msg = string(p[3:])
		}
		return g, fmt.Errorf("%w: server error %q", ErrRejected, printable(msg))
	}
	if p[0] != 10 {
		return g, fmt.Errorf("%w: protocol version %d, want 10", ErrProtocol, p[0])
	}
	rest := p[1:]
	nul := bytes.IndexByte(rest, 0)
	if nul < 0 {
		return g, fmt.Errorf("%w: unterminated server version", ErrProtocol)
	}
	g.Version = string(rest[:nul])
	rest = rest[nul+1:]
	// connection id (4), auth-plugin-data part 1 (8), filler (1), capability lower (2)
	if len(rest) < 4+8+1+2 {
		return g, fmt.Errorf("%w: greeting too short", ErrProtocol)
	}
	g.Capabilities = uint32(binary.LittleEndian.Uint16(rest[13:15]))
	rest = rest[15:]
	// charset (1), status (2), capability upper (2)
	if len(rest) >= 5 {
		g.Capabilities |= uint32(binary.LittleEndian.Uint16(rest[3:5])) << 16
	}
	return g, nil
}
