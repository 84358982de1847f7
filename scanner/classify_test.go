package scanner

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

// TestClassifyCancelledIsNotTimeout: an endpoint cut short because the
// scan was stopped (Ctrl-C) is "cancelled", whatever error the cut
// produced; only the endpoint's own deadline is a timeout.
func TestClassifyCancelledIsNotTimeout(t *testing.T) {
	stopped, stop := context.WithCancel(context.Background())
	stop()
	live := context.Background()
	deadline := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want ErrorKind
	}{
		{"scan stopped, dial cancelled", stopped, fmt.Errorf("dial tcp: %w", context.Canceled), KindCancelled},
		{"scan stopped, read cut by the deadline it set", stopped, deadline, KindCancelled},
		{"endpoint deadline", live, deadline, KindTimeout},
		{"refused", live, fmt.Errorf("dial: %w", syscall.ECONNREFUSED), KindRefused},
	} {
		if got := classify(tc.ctx, tc.err, KindHandshake); got.Kind != tc.want {
			t.Errorf("%s: kind %s, want %s", tc.name, got.Kind, tc.want)
		}
	}
}
