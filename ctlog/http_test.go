package ctlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second,
		"Wed, 31 Dec 2025 00:00:30 GMT": 0,
	}
	for in, want := range cases {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	for a := 0; a < 40; a++ {
		d := backoff(a, 10*time.Millisecond, time.Second)
		if d < 5*time.Millisecond || d > time.Second {
			t.Fatalf("attempt %d: %v", a, d)
		}
	}
}

func testTransport(retries int) *transport {
	return &transport{base: http.DefaultTransport, limiter: rate.NewLimiter(rate.Inf, 1), retries: retries,
		minBackoff: time.Millisecond, maxBackoff: 5 * time.Millisecond, maxBody: 1000, log: discard()}
}

func TestTransportRetriesAndCaps(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch {
		case r.URL.Path == "/big":
			w.Write([]byte(strings.Repeat("x", 2000)))
		case r.URL.Path == "/exact":
			w.Write([]byte(strings.Repeat("x", 1000)))
		case r.URL.Path == "/404":
			http.NotFound(w, r)
		case n <= 2:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		default:
			w.Write([]byte("ok"))
		}
	}))
	defer srv.Close()
	hc := &http.Client{Transport: testTransport(3)}
	b, err := get(context.Background(), hc, "ua", srv.URL+"/x")
	if err != nil || string(b) != "ok" || calls.Load() != 3 {
		t.Fatalf("got %q, %v after %d calls", b, err, calls.Load())
	}
	if _, err := get(context.Background(), hc, "ua", srv.URL+"/big"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized body: %v", err)
	}
	if b, err := get(context.Background(), hc, "ua", srv.URL+"/exact"); err != nil || len(b) != 1000 {
		t.Fatalf("body at the cap: %d, %v", len(b), err)
	}
	var fe *FetchError
	if _, err := get(context.Background(), hc, "ua", srv.URL+"/404"); !errors.As(err, &fe) || fe.Status != 404 || !errors.Is(err, ErrNotFound) {
		t.Fatalf("404: %v", err)
	}
	// Retries run out: the last status is reported.
	calls.Store(-100)
	hc = &http.Client{Transport: testTransport(2)}
	if _, err := get(context.Background(), hc, "ua", srv.URL+"/x"); !errors.As(err, &fe) || fe.Status != http.StatusTooManyRequests {
		t.Fatalf("exhausted retries: %v", err)
	}
}

func TestTransportHonoursContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	tr := testTransport(5)
	tr.maxBackoff = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := get(ctx, &http.Client{Transport: tr}, "ua", srv.URL)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestGzipTile(t *testing.T) {
	tile := readFile(t, "tile-data.bin")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Stored compressed, served without Content-Encoding.
		w.Write(gz(tile))
	}))
	defer srv.Close()
	tr := testTransport(0)
	tr.maxBody = 1 << 20
	b, err := get(context.Background(), &http.Client{Transport: tr}, "ua", srv.URL)
	if err != nil || string(b) != string(tile) {
		t.Fatalf("gzip body: %v", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// TestReadBodyLengths: bodies with a declared length (within and above
// what is allocated up front), without one, and shorter than declared.
func TestReadBodyLengths(t *testing.T) {
	small := bytes.Repeat([]byte{7}, 1000)
	big := bytes.Repeat([]byte{9}, preallocBytes+1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			w.Write(small)
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big)
		case "/chunked":
			w.Write(small[:10])
			w.(http.Flusher).Flush()
			w.Write(small[10:])
		case "/short":
			w.Header().Set("Content-Length", "2000")
			w.Write(small)
			// The handler returns with 1,000 bytes missing: the server
			// closes the connection.
		}
	}))
	defer srv.Close()
	tr := testTransport(0)
	tr.maxBody = 8 << 20
	hc := &http.Client{Transport: tr}
	for path, want := range map[string][]byte{"/small": small, "/big": big, "/chunked": small} {
		b, err := get(context.Background(), hc, "ua", srv.URL+path)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: %d bytes, %v; want %d", path, len(b), err, len(want))
		}
	}
	if b, err := get(context.Background(), hc, "ua", srv.URL+"/short"); err == nil {
		t.Errorf("/short: %d bytes and no error", len(b))
	}
}
