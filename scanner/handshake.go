package scanner

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	ztls "github.com/zmap/zcrypto/tls"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/scanner/starttls"
)

// maxChainCerts caps how many certificates of one chain are recorded.
const maxChainCerts = 16

// maxStapleBytes caps the stapled OCSP response an observation records.
const maxStapleBytes = 64 << 10

// curvePreferences asks for the hybrid post-quantum group first, so the
// observation shows whether the server negotiates it.
var curvePreferences = []ztls.CurveID{ztls.X25519MLKEM768, ztls.X25519, ztls.CurveP256, ztls.CurveP384, ztls.CurveP521}

// cipherSuites offers everything zcrypto implements, legacy included: an
// audit wants to see what a server accepts, not to protect a session.
var cipherSuites = func() []uint16 {
	var ids []uint16
	for _, s := range ztls.CipherSuites() {
		ids = append(ids, s.ID)
	}
	for _, s := range ztls.InsecureCipherSuites() {
		ids = append(ids, s.ID)
	}
	return ids
}()

// Dialer opens the TCP connection of one endpoint.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// probe connects to one endpoint, runs STARTTLS when the protocol needs
// it, handshakes, and fills obs. The caller's ctx carries the endpoint's
// single deadline (connect + STARTTLS + handshake, both engines).
//
// Two engines, one Observation: Go's crypto/tls handshakes first — on the
// benchmark farm it is ≈40% cheaper per handshake than zcrypto (which
// generates a second X25519 share and parses every certificate with its
// slower parser) — and zcrypto's TLS takes over whenever Go refuses what
// the server does (TLS alerts, DHE or export suites, a certificate Go
// cannot parse such as a negative serial, small RSA keys). Network
// outcomes (timeout, refused, reset, closed, not TLS) are final at once.
//
// It returns how long the TCP connect took (of the last attempt).
func probe(ctx context.Context, dial Dialer, ep Endpoint, obs *Observation) (rtt time.Duration) {
	if probeStd(ctx, dial, ep, obs, &rtt) {
		return rtt
	}
	std := *obs.Error
	*obs = Observation{Target: obs.Target, Host: obs.Host, IP: obs.IP, Port: obs.Port, SNI: obs.SNI,
		Protocol: obs.Protocol, Time: obs.Time, Chain: []certinfo.Cert{}}
	probeZ(ctx, dial, ep, obs, &rtt)
	if obs.Error != nil && obs.Error.Kind == KindHandshake && !strings.Contains(obs.Error.Message, std.Message) {
		obs.Error.Message = trimMsg(obs.Error.Message + " (crypto/tls: " + std.Message + ")")
	}
	return rtt
}

// connect dials ep and runs its STARTTLS exchange. The returned cleanup
// closes the connection; *rtt is set to the TCP connect's duration.
func connect(ctx context.Context, dial Dialer, ep Endpoint, rtt *time.Duration) (net.Conn, func(), *ScanError) {
	start := time.Now()
	conn, err := dial(ctx, "tcp", ep.Addr())
	*rtt = time.Since(start)
	if err != nil {
		return nil, nil, classify(ctx, err, KindRefused)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancellation (SIGINT) interrupts blocked reads at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	cleanup := func() { stop(); conn.Close() }
	if ep.Protocol != "tls" {
		host := ep.SNI
		if host == "" {
			host = ep.Name
		}
		if err := starttls.Upgrade(conn, ep.Protocol, host); err != nil {
			cleanup()
			return nil, nil, classify(ctx, err, KindSTARTTLS)
		}
	}
	return conn, cleanup, nil
}

// stdCipherSuites offers every suite crypto/tls implements, insecure ones
// included (listing them explicitly enables RSA key exchange and 3DES).
var stdCipherSuites, stdSuiteNames = func() ([]uint16, map[uint16]string) {
	var ids []uint16
	names := map[uint16]string{}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		ids = append(ids, s.ID)
		names[s.ID] = s.Name
	}
	return ids, names
}()

// suiteName is tls.CipherSuiteName without building the list of suites
// on every call (it did, per handshake).
func suiteName(id uint16) string {
	if n, ok := stdSuiteNames[id]; ok {
		return n
	}
	return tls.CipherSuiteName(id)
}

// probeStd handshakes with crypto/tls. It reports whether the outcome is
// final; false means zcrypto should try.
func probeStd(ctx context.Context, dial Dialer, ep Endpoint, obs *Observation, rtt *time.Duration) bool {
	conn, cleanup, serr := connect(ctx, dial, ep, rtt)
	if serr != nil {
		obs.Error = serr
		return true
	}
	defer cleanup()
	tc := tls.Client(conn, &tls.Config{
		InsecureSkipVerify: true, // we record, we do not trust
		ServerName:         ep.SNI,
		MinVersion:         tls.VersionTLS10,
		MaxVersion:         tls.VersionTLS13,
		CipherSuites:       stdCipherSuites,
		// CurvePreferences nil: Go offers X25519MLKEM768 first.
	})
	err := tc.HandshakeContext(ctx)
	if err != nil {
		obs.Error = classify(ctx, err, KindHandshake)
		var rh tls.RecordHeaderError
		final := obs.Error.Kind != KindHandshake || errors.As(err, &rh) ||
			errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		return final
	}
	st := tc.ConnectionState()
	obs.TLSVersion = versionName(st.Version)
	obs.CipherSuite = suiteName(st.CipherSuite)
	obs.Group = groupName(uint16(st.CurveID))
	certs := st.PeerCertificates
	if len(certs) > maxChainCerts {
		certs = certs[:maxChainCerts]
		obs.ChainTruncated = true
	}
	for _, c := range certs {
		obs.Chain = append(obs.Chain, certinfo.ParseX509(c))
	}
	obs.OCSPStapled = len(st.OCSPResponse) > 0
	obs.OCSPResponse = staple(st.OCSPResponse)
	obs.SCTs = len(st.SignedCertificateTimestamps)
	return true
}

// probeZ handshakes with zcrypto's TLS, which accepts what Go refuses.
func probeZ(ctx context.Context, dial Dialer, ep Endpoint, obs *Observation, rtt *time.Duration) {
	conn, cleanup, serr := connect(ctx, dial, ep, rtt)
	if serr != nil {
		obs.Error = serr
		return
	}
	defer cleanup()
	cfg := &ztls.Config{
		InsecureSkipVerify: true, // we record, we do not trust
		ServerName:         ep.SNI,
		MinVersion:         ztls.VersionTLS10,
		MaxVersion:         ztls.VersionTLS13,
		CurvePreferences:   curvePreferences,
		CipherSuites:       cipherSuites,
	}
	tc := ztls.Client(conn, cfg)
	herr := tc.HandshakeContext(ctx)
	log := tc.GetHandshakeLog()
	record(obs, tc, log, herr == nil)
	if herr != nil {
		obs.Error = classify(ctx, herr, KindHandshake)
		if len(obs.Chain) > 0 {
			// The server did send its certificates; say why the handshake
			// still failed (e.g. a certificate no parser accepts).
			obs.Error.Message = "certificates received, then: " + obs.Error.Message
		}
	}
}

// record copies what the handshake log holds, even after a failure
// (zcrypto logs the certificates before it parses them).
func record(obs *Observation, tc *ztls.Conn, log *ztls.ServerHandshake, complete bool) {
	if log == nil {
		return
	}
	if sh := log.ServerHello; sh != nil {
		v := uint16(sh.Version)
		if sh.SupportedVersions != nil {
			v = uint16(sh.SupportedVersions.SelectedVersion)
		}
		obs.TLSVersion = versionName(v)
		obs.CipherSuite = ztls.CipherSuiteID(sh.CipherSuite).String()
		if sh.KeyShare != nil && sh.KeyShare.KeyExchange != nil {
			obs.Group = groupName(uint16(*sh.KeyShare.KeyExchange))
		}
	}
	if obs.Group == "" && log.ServerKeyExchange != nil && log.ServerKeyExchange.ECDHParams != nil {
		obs.Group = groupName(uint16(log.ServerKeyExchange.ECDHParams.TLSCurveID))
	}
	if sc := log.ServerCertificates; sc != nil {
		ders := make([][]byte, 0, 1+len(sc.Chain))
		if len(sc.Certificate.Raw) > 0 {
			ders = append(ders, sc.Certificate.Raw)
		}
		for _, c := range sc.Chain {
			ders = append(ders, c.Raw)
		}
		if len(ders) > maxChainCerts {
			ders = ders[:maxChainCerts]
			obs.ChainTruncated = true
		}
		for _, der := range ders {
			c, _ := certinfo.Parse(der) // a parse failure is recorded in c.ParseError
			obs.Chain = append(obs.Chain, c)
		}
	}
	if complete {
		st := tc.ConnectionState()
		obs.OCSPStapled = len(st.OCSPResponse) > 0
		obs.OCSPResponse = staple(st.OCSPResponse)
		obs.SCTs = len(st.SignedCertificateTimestamps)
	}
}

// staple is a copy of a stapled OCSP response to record, nil when none
// was stapled or it exceeds maxStapleBytes (it is then only counted as
// stapled).
func staple(b []byte) []byte {
	if len(b) == 0 || len(b) > maxStapleBytes {
		return nil
	}
	return append([]byte(nil), b...)
}

// groupName renders a TLS supported group by its IANA registry name.
func groupName(id uint16) string {
	switch id {
	case 0:
		return ""
	case 23:
		return "secp256r1"
	case 24:
		return "secp384r1"
	case 25:
		return "secp521r1"
	case 29:
		return "x25519"
	case 30:
		return "x448"
	case 0x11eb:
		return "SecP256r1MLKEM768"
	case 0x11ec:
		return "X25519MLKEM768"
	case 0x11ed:
		return "SecP384r1MLKEM1024"
	case 0x0200:
		return "MLKEM512"
	case 0x0201:
		return "MLKEM768"
	case 0x0202:
		return "MLKEM1024"
	}
	return fmt.Sprintf("0x%04x", id)
}

func versionName(v uint16) string {
	switch v {
	case ztls.VersionTLS10:
		return "TLS 1.0"
	case ztls.VersionTLS11:
		return "TLS 1.1"
	case ztls.VersionTLS12:
		return "TLS 1.2"
	case ztls.VersionTLS13:
		return "TLS 1.3"
	case 0x0300:
		return "SSL 3.0"
	case 0:
		return ""
	}
	return fmt.Sprintf("0x%04x", v)
}

// classify maps a Go error to the recorded kind. fallback is the kind
// for errors that are none of timeout, refused or reset.
func classify(ctx context.Context, err error, fallback ErrorKind) *ScanError {
	msg := err.Error()
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(ctx.Err(), context.Canceled):
		// Stopped by the user, not by the endpoint: not a timeout.
		return &ScanError{Kind: KindCancelled, Message: "cancelled: " + trimMsg(msg)}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout(), ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &ScanError{Kind: KindTimeout, Message: trimMsg("deadline exceeded during " + stage(fallback) + ": " + msg)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &ScanError{Kind: KindRefused, Message: trimMsg(msg)}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return &ScanError{Kind: KindRefused, Message: trimMsg("unreachable: " + msg)}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return &ScanError{Kind: KindReset, Message: trimMsg(msg)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &ScanError{Kind: fallback, Message: trimMsg("connection closed by the server: " + msg)}
	}
	return &ScanError{Kind: fallback, Message: trimMsg(msg)}
}

func stage(k ErrorKind) string {
	switch k {
	case KindRefused:
		return "connect"
	case KindSTARTTLS:
		return "STARTTLS"
	}
	return "handshake"
}

func trimMsg(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "?")), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
