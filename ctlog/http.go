package ctlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// maxResponseBytes caps any one response from a log (a full data tile of
// large certificates is ≈1–2 MB; a get-entries batch of 1000 ≈ 5 MB).
const maxResponseBytes = 32 << 20

// transport is the per-log HTTP layer: a rate limit, retries with
// jittered exponential backoff on 429, 5xx and transport errors
// (honouring Retry-After), and a response size cap. Every request to a
// log, from this package or from certificate-transparency-go, goes
// through it.
type transport struct {
	base       http.RoundTripper
	limiter    *rate.Limiter
	retries    int
	minBackoff time.Duration
	maxBackoff time.Duration
	maxBody    int64
	log        *slog.Logger
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		if err := t.limiter.Wait(ctx); err != nil {
			return nil, err
		}
		resp, err := t.base.RoundTrip(req)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, err
			}
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			wait = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		default:
			resp.Body = &cappedBody{rc: resp.Body, left: t.maxBody}
			return resp, nil
		}
		// Only bodiless requests (GET) are replayed.
		if attempt >= t.retries || (req.Body != nil && req.Body != http.NoBody) {
			if err == nil {
				resp.Body = &cappedBody{rc: resp.Body, left: t.maxBody}
			}
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		d := backoff(attempt, t.minBackoff, t.maxBackoff)
		if wait > d {
			d = min(wait, 10*t.maxBackoff)
		}
		t.log.Debug("ctlog: retrying", "url", req.URL.String(), "attempt", attempt+1, "wait", d, "status", status(resp), "err", err)
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

func status(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

// backoff is min·2^attempt, capped, with the upper half jittered.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo << min(attempt, 20)
	if d > hi || d <= 0 {
		d = hi
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Allow reading EOF exactly at the cap.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// preallocBytes is the most readBody allocates on a server's word alone:
// a full data tile fits, and a server that declares 32 MiB and stalls
// costs no more than this per fetch until the bytes arrive.
const preallocBytes = 4 << 20

// readBody reads a response body. A declared length up to preallocBytes
// is read into one buffer of that size — buf, when it has the room (a
// buffer of an earlier fetch the caller is done with) — since a data tile
// is ≈400 KB, and reading it by doubling would allocate twice that for
// every tile; longer or undeclared bodies grow with what arrives, under
// the transport's cap. net/http ends a body at its declared length and
// reports one that is shorter.
func readBody(resp *http.Response, buf []byte) ([]byte, error) {
	n := resp.ContentLength
	if n <= 0 || n > preallocBytes {
		bb := bytes.NewBuffer(buf[:0]) // io.ReadAll into buf's room
		_, err := bb.ReadFrom(resp.Body)
		return bb.Bytes(), err
	}
	b := buf[:0]
	if int64(cap(b)) < n {
		b = make([]byte, n)
	}
	b = b[:n]
	if _, err := io.ReadFull(resp.Body, b); err != nil {
		return nil, err
	}
	return b, nil
}

// get fetches url and returns its body, gunzipped when the log stored it
// compressed without saying so (a tile starts with a timestamp's zero
// byte, never with gzip's magic). 404 is a FetchError wrapping ErrNotFound.
func get(ctx context.Context, hc *http.Client, ua, url string) ([]byte, error) {
	return getInto(ctx, hc, ua, url, nil)
}

// getInto is get reading the body into buf when it has the room.
func getInto(ctx context.Context, hc *http.Client, ua, url string, buf []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, &FetchError{URL: url, Err: err}
	}
	req.Header.Set("User-Agent", ua)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &FetchError{URL: url, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		e := &FetchError{URL: url, Status: resp.StatusCode, Err: errors.New(http.StatusText(resp.StatusCode))}
		if resp.StatusCode == http.StatusNotFound {
			e.Err = ErrNotFound
		}
		return nil, e
	}
	b, err := readBody(resp, buf)
	if err != nil {
		return nil, &FetchError{URL: url, Status: resp.StatusCode, Err: err}
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, &FetchError{URL: url, Status: resp.StatusCode, Err: fmt.Errorf("gzip: %w", err)}
		}
		u, err := io.ReadAll(io.LimitReader(zr, maxResponseBytes+1))
		if err != nil {
			return nil, &FetchError{URL: url, Status: resp.StatusCode, Err: fmt.Errorf("gzip: %w", err)}
		}
		if len(u) > maxResponseBytes {
			return nil, &FetchError{URL: url, Status: resp.StatusCode, Err: ErrTooLarge}
		}
		b = u
	}
	return b, nil
}
