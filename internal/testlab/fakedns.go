package testlab

import (
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// DNSHandler answers one raw DNS query (as received, without the TCP
// length prefix) with raw bytes. Returning nil sends nothing: the client
// times out. tcp says which transport the query came over.
type DNSHandler func(query []byte, tcp bool) []byte

// StartFakeDNS serves handler on one loopback port over UDP and TCP and
// returns "ip:port". It is for what a real DNS server will not do on
// purpose: never answer, answer garbage, answer oversized or mismatched
// messages. Stopped in t.Cleanup. ip defaults to 127.0.0.1.
func StartFakeDNS(t testing.TB, ip string, handler DNSHandler) string {
	t.Helper()
	if ip == "" {
		ip = "127.0.0.1"
	}
	MustLoopback(t, ip)
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 50 {
		port := FreePort(t, ip)
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			continue
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			pc.Close()
			continue
		}
		break
	}
	if err != nil {
		t.Fatalf("testlab: fake DNS: %v", err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			if resp := handler(q, false); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				for {
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					var l [2]byte
					if _, err := io.ReadFull(c, l[:]); err != nil {
						return
					}
					q := make([]byte, binary.BigEndian.Uint16(l[:]))
					if _, err := io.ReadFull(c, q); err != nil {
						return
					}
					resp := handler(q, true)
					if resp == nil {
						// Hold the connection open without answering.
						select {
						case <-done:
						case <-time.After(10 * time.Second):
						}
						return
					}
					if len(resp) > 65535 {
						resp = resp[:65535]
					}
					out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
					if _, err := c.Write(append(out, resp...)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		close(done)
		pc.Close()
		ln.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

// SilentDNS returns the address of a loopback UDP and TCP port that
// accepts queries and never answers.
func SilentDNS(t testing.TB) string {
	t.Helper()
	return StartFakeDNS(t, "", func([]byte, bool) []byte { return nil })
}
