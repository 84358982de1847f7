package estate

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CTLog is a TesseraCT (static-ct-api) log of the demo.
type CTLog struct {
	// SubmitURL is the RFC 6962 submission prefix; MonitorURL the
	// static-ct-api monitoring prefix (the storage served over HTTP).
	SubmitURL, MonitorURL string
	KeyFile               string // the log's public key (PEM)
	Dir                   string
	proc                  *Process
	srv                   *http.Server
}

// StartCTLog starts TesseraCT's POSIX log (binary posix) accepting chains
// to rootsPEM, with submissions on submitAddr and the tiles served on
// monitorAddr (both loopback ip:port).
func StartCTLog(ctx context.Context, bin, dir, submitAddr, monitorAddr string, rootsPEM []byte) (*CTLog, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, _ := x509.MarshalECPrivateKey(key)
	keyPath := filepath.Join(dir, "log-key.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	pub, _ := x509.MarshalPKIXPublicKey(key.Public())
	pubPath := filepath.Join(dir, "log-pub.pem")
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return nil, err
	}
	roots := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(roots, rootsPEM, 0o644); err != nil {
		return nil, err
	}
	if err := PortFree(submitAddr); err != nil {
		return nil, err
	}
	storage := filepath.Join(dir, "storage")
	p, err := Start(dir, bin, "--private_key="+keyPath, "--origin=localhost/demo", "--path_prefix=/demo",
		"--storage_dir="+storage, "--roots_pem_file="+roots, "--http_endpoint="+submitAddr,
		"--checkpoint_interval=500ms", "--batch_max_age=100ms", "--checkpoint_republish_interval=1s")
	if err != nil {
		return nil, err
	}
	l := &CTLog{SubmitURL: "http://" + submitAddr + "/demo/", KeyFile: pubPath, Dir: storage, proc: p}
	if err := WaitTCP(ctx, p, submitAddr, 20*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	ln, err := Listen(monitorAddr)
	if err != nil {
		p.Stop()
		return nil, err
	}
	l.srv = &http.Server{Handler: http.FileServer(http.Dir(storage)), ReadHeaderTimeout: 5 * time.Second}
	go l.srv.Serve(ln)
	l.MonitorURL = "http://" + ln.Addr().String() + "/"
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(storage, "checkpoint")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			l.Close()
			return nil, fmt.Errorf("estate: TesseraCT wrote no checkpoint: %s", p.Tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return l, nil
}

// Close stops the log.
func (l *CTLog) Close() {
	if l.srv != nil {
		l.srv.Close()
	}
	l.proc.Stop()
}

// AddChain submits a certificate chain (leaf first, RFC 6962 add-chain).
func (l *CTLog) AddChain(ctx context.Context, chain [][]byte) error {
	var req struct {
		Chain []string `json:"chain"`
	}
	for _, c := range chain {
		req.Chain = append(req.Chain, base64.StdEncoding.EncodeToString(c))
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, l.SubmitURL+"ct/v1/add-chain", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return fmt.Errorf("estate: add-chain: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("estate: add-chain: %s: %s", resp.Status, b)
	}
	return nil
}

// WaitSize waits until the published checkpoint holds n entries.
func (l *CTLog) WaitSize(ctx context.Context, n uint64) error {
	for {
		b, err := os.ReadFile(filepath.Join(l.Dir, "checkpoint"))
		if err == nil {
			lines := strings.SplitN(string(b), "\n", 3)
			if len(lines) >= 2 {
				if size, err := strconv.ParseUint(lines[1], 10, 64); err == nil && size >= n {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("estate: CT log did not reach %d entries: %w", n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
