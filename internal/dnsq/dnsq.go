// Package dnsq sends one DNS exchange with miekg/dns under a context.
// miekg/dns obeys a context's deadline but not its cancellation: a
// cancelled scan (Ctrl-C, a stage stopped) would otherwise wait for the
// client's read timeout on every query in flight.
package dnsq

import (
	"context"
	"time"

	"github.com/miekg/dns"
)

// Exchange sends m to addr (ip:port) over c's network and returns the
// answer. It returns when ctx ends, with ctx's error.
func Exchange(ctx context.Context, c *dns.Client, m *dns.Msg, addr string) (*dns.Msg, time.Duration, error) {
	conn, err := c.DialContext(ctx, addr)
	if err != nil {
		if cerr := ended(ctx); cerr != nil {
			return nil, 0, cerr
		}
		return nil, 0, err
	}
	defer conn.Close()
	// Closing the connection ends a read or write in progress.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r, rtt, err := c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil {
		if cerr := ended(ctx); cerr != nil {
			return nil, rtt, cerr
		}
	}
	return r, rtt, err
}

// ended is ctx's error, or context.DeadlineExceeded once its deadline has
// passed: a socket deadline taken from ctx can fire a moment before ctx's
// own timer marks it done.
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}
