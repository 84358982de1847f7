package estate

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Server is one listener of the estate.
type Server struct {
	Addr string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]struct{}
	done chan struct{}
}

// Listen opens a TCP listener, refusing anything but loopback.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("estate: %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return nil, fmt.Errorf("estate: refusing to listen on non-loopback address %q", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("estate: listen %s: %w", addr, err)
	}
	return ln, nil
}

func serve(addr string, handle func(net.Conn)) (*Server, error) {
	ln, err := Listen(addr)
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, conn: map[net.Conn]struct{}{}, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conn[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conn, c)
					s.mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
	return s, nil
}

// Close stops the listener and every open connection.
func (s *Server) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	close(s.done)
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conn {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// finishTLS runs the server side of the handshake and lingers briefly so
// the client can read everything.
func finishTLS(c net.Conn, cfg *tls.Config) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Server(c, cfg)
	if err := tc.Handshake(); err != nil {
		return
	}
	buf := make([]byte, 512)
	_ = tc.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = tc.Read(buf)
}

// ServeTLS serves TLS from the first byte.
func ServeTLS(addr string, cfg *tls.Config) (*Server, error) {
	return serve(addr, func(c net.Conn) { finishTLS(c, cfg) })
}

// STARTTLSOptions tune a plaintext protocol server.
type STARTTLSOptions struct {
	// NoTLS makes the server not offer (or refuse) the upgrade.
	NoTLS bool
}

// ServeSTARTTLS serves proto (smtp, imap, pop3, ftp, ldap, postgres,
// mysql, xmpp) and upgrades to TLS with cfg when asked.
func ServeSTARTTLS(addr, proto string, cfg *tls.Config, opt STARTTLSOptions) (*Server, error) {
	h, ok := plainServers[proto]
	if !ok {
		return nil, fmt.Errorf("estate: no %s server", proto)
	}
	return serve(addr, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if h(c, opt) {
			finishTLS(c, cfg)
		}
	})
}

// plainServers speak the protocol up to the TLS upgrade; true means the
// client asked for TLS and the server agreed.
var plainServers = map[string]func(net.Conn, STARTTLSOptions) bool{
	"smtp": func(c net.Conn, o STARTTLSOptions) bool {
		r := bufio.NewReader(c)
		fmt.Fprint(c, "220 estate.test ESMTP keyaudit demo\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return false
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				if o.NoTLS {
					fmt.Fprint(c, "250-estate.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
				} else {
					fmt.Fprint(c, "250-estate.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
				}
			case cmd == "STARTTLS":
				if o.NoTLS {
					fmt.Fprint(c, "502 5.5.1 command not implemented\r\n")
					continue
				}
				fmt.Fprint(c, "220 2.0.0 Ready to start TLS\r\n")
				return true
			case cmd == "QUIT":
				fmt.Fprint(c, "221 bye\r\n")
				return false
			default:
				fmt.Fprint(c, "500 unrecognised\r\n")
			}
		}
	},
	"imap": func(c net.Conn, o STARTTLSOptions) bool {
		r := bufio.NewReader(c)
		caps := "IMAP4rev1 STARTTLS"
		if o.NoTLS {
			caps = "IMAP4rev1"
		}
		fmt.Fprintf(c, "* OK [CAPABILITY %s] estate ready\r\n", caps)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return false
			}
			f := strings.Fields(line)
			if len(f) < 2 {
				fmt.Fprint(c, "* BAD syntax\r\n")
				continue
			}
			switch strings.ToUpper(f[1]) {
			case "STARTTLS":
				if o.NoTLS {
					fmt.Fprintf(c, "%s BAD STARTTLS unavailable\r\n", f[0])
					continue
				}
				fmt.Fprintf(c, "%s OK Begin TLS negotiation now\r\n", f[0])
				return true
			case "CAPABILITY":
				fmt.Fprintf(c, "* CAPABILITY %s\r\n%s OK done\r\n", caps, f[0])
			default:
				fmt.Fprintf(c, "%s BAD unknown\r\n", f[0])
			}
		}
	},
	"pop3": func(c net.Conn, o STARTTLSOptions) bool {
		r := bufio.NewReader(c)
		fmt.Fprint(c, "+OK estate POP3 ready\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return false
			}
			switch strings.ToUpper(strings.TrimSpace(line)) {
			case "STLS":
				if o.NoTLS {
					fmt.Fprint(c, "-ERR STLS not available\r\n")
					continue
				}
				fmt.Fprint(c, "+OK Begin TLS negotiation\r\n")
				return true
			case "QUIT":
				fmt.Fprint(c, "+OK bye\r\n")
				return false
			default:
				fmt.Fprint(c, "-ERR unknown\r\n")
			}
		}
	},
	"ftp": func(c net.Conn, o STARTTLSOptions) bool {
		r := bufio.NewReader(c)
		fmt.Fprint(c, "220-estate FTP\r\n220 ready\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return false
			}
			switch strings.ToUpper(strings.TrimSpace(line)) {
			case "AUTH TLS":
				if o.NoTLS {
					fmt.Fprint(c, "502 AUTH not implemented\r\n")
					continue
				}
				fmt.Fprint(c, "234 AUTH TLS successful\r\n")
				return true
			default:
				fmt.Fprint(c, "500 unknown\r\n")
			}
		}
	},
	"ldap": func(c net.Conn, o STARTTLSOptions) bool {
		// Read one LDAPMessage (short or long definite length).
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(c, hdr); err != nil || hdr[0] != 0x30 {
			return false
		}
		n := int(hdr[1])
		if hdr[1]&0x80 != 0 {
			k := int(hdr[1] & 0x7f)
			lb := make([]byte, k)
			if k > 3 || k == 0 {
				return false
			}
			if _, err := io.ReadFull(c, lb); err != nil {
				return false
			}
			n = 0
			for _, b := range lb {
				n = n<<8 | int(b)
			}
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c, body); err != nil {
			return false
		}
		if !bytes.Contains(body, []byte("1.3.6.1.4.1.1466.20037")) {
			return false
		}
		code := byte(0)
		if o.NoTLS {
			code = 2 // protocolError: StartTLS not supported
		}
		// LDAPMessage{1, ExtendedResponse{resultCode, "", ""}}
		_, _ = c.Write([]byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, code, 0x04, 0x00, 0x04, 0x00})
		return !o.NoTLS
	},
	"postgres": func(c net.Conn, o STARTTLSOptions) bool {
		req := make([]byte, 8)
		if _, err := io.ReadFull(c, req); err != nil {
			return false
		}
		if binary.BigEndian.Uint32(req[4:]) != 80877103 {
			return false
		}
		if o.NoTLS {
			_, _ = c.Write([]byte{'N'})
			return false
		}
		_, _ = c.Write([]byte{'S'})
		return true
	},
	"mysql": func(c net.Conn, o STARTTLSOptions) bool {
		var p []byte
		p = append(p, 10)
		p = append(p, "8.0.40-estate"...)
		p = append(p, 0)
		p = append(p, 1, 0, 0, 0)                 // connection id
		p = append(p, "abcdefgh"...)              // auth-plugin-data part 1
		p = append(p, 0)                          // filler
		caps := uint32(0x0200 | 0x8000 | 0x80000) // protocol41, secure conn, plugin auth
		if !o.NoTLS {
			caps |= 0x0800
		}
		p = binary.LittleEndian.AppendUint16(p, uint16(caps))
		p = append(p, 0x21, 2, 0)
		p = binary.LittleEndian.AppendUint16(p, uint16(caps>>16))
		p = append(p, 21)
		p = append(p, make([]byte, 10)...)
		p = append(p, "ijklmnopqrst"...)
		p = append(p, 0)
		p = append(p, "caching_sha2_password"...)
		p = append(p, 0)
		hdr := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), 0}
		_, _ = c.Write(append(hdr, p...))
		if o.NoTLS {
			return false
		}
		req := make([]byte, 36)
		if _, err := io.ReadFull(c, req); err != nil {
			return false
		}
		return binary.LittleEndian.Uint32(req[4:])&0x0800 != 0
	},
	"xmpp": func(c net.Conn, o STARTTLSOptions) bool {
		r := bufio.NewReader(c)
		if _, err := readUntil(r, "<stream:stream"); err != nil {
			return false
		}
		if _, err := readUntil(r, ">"); err != nil {
			return false
		}
		features := "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
		if o.NoTLS {
			features = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
		}
		fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream from='estate.test' id='e1' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><stream:features>%s</stream:features>", features)
		if o.NoTLS {
			return false
		}
		if _, err := readUntil(r, "/>"); err != nil {
			return false
		}
		fmt.Fprint(c, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		return true
	},
}

func readUntil(r *bufio.Reader, marker string) (string, error) {
	var sb strings.Builder
	for sb.Len() < 1<<16 {
		b, err := r.ReadByte()
		if err != nil {
			return sb.String(), err
		}
		sb.WriteByte(b)
		if strings.HasSuffix(sb.String(), marker) {
			return sb.String(), nil
		}
	}
	return sb.String(), fmt.Errorf("marker %q not found", marker)
}
