package estate

import (
	"crypto/tls"
	"net"
	"time"
)

// Hostile names a misbehaving server. These are fakes by design: no real
// server misbehaves this way on purpose, and a scanner must survive them.
type Hostile string

// Hostile behaviours.
const (
	Tarpit     Hostile = "tarpit"   // accepts, then never sends a byte
	Garbage    Hostile = "garbage"  // answers the ClientHello with an HTTP error page
	Reset      Hostile = "reset"    // accepts and resets (RST) at once
	SlowDrip   Hostile = "slowdrip" // sends a TLS record one byte every 300 ms, forever
	CloseEarly Hostile = "close"    // reads the ClientHello, then closes cleanly (EOF)
)

// ServeHostile serves behaviour h.
func ServeHostile(addr string, h Hostile) (*Server, error) {
	return serve(addr, func(c net.Conn) {
		switch h {
		case Tarpit:
			buf := make([]byte, 1024)
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		case Garbage:
			buf := make([]byte, 1024)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		case Reset:
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			buf := make([]byte, 1024)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Read(buf)
		case SlowDrip:
			// A ServerHello record header that never completes.
			rec := []byte{0x16, 0x03, 0x03, 0x40, 0x00, 0x02, 0x00, 0x3f, 0xfc, 0x03, 0x03}
			for i := 0; ; i++ {
				if _, err := c.Write([]byte{rec[i%len(rec)]}); err != nil {
					return
				}
				time.Sleep(300 * time.Millisecond)
				if i > 600 {
					return
				}
			}
		case CloseEarly:
			// Read the ClientHello first: closing with unread data would
			// send a reset instead of a clean end of stream.
			buf := make([]byte, 1<<16)
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}
	})
}

// HugeChain returns a TLS config whose chain is the leaf plus n
// intermediates (a misconfigured or hostile server).
func HugeChain(ca *CA, n int) (*tls.Config, error) {
	cur := ca
	for i := 0; i < n; i++ {
		next, err := cur.Intermediate("estate padding CA", ECDSA256)
		if err != nil {
			return nil, err
		}
		cur = next
	}
	cert, err := cur.Issue(Leaf{CN: "huge.example.test", Key: ECDSA256})
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}
