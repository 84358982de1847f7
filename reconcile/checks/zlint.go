package checks

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/keyaudit/keyaudit/reconcile"
)

// zlintPublic is zlint's global registry without the lint sources that
// cannot concern a TLS server certificate: the code-signing and S/MIME
// baseline requirements. Everything else (RFC 5280 and friends, the CA/B
// Forum TLS BRs and EV guidelines, root program policies, ETSI, community
// lints) decides for itself whether it applies. It lints certificates of
// publicly-trusted CAs.
var zlintPublic = sync.OnceValues(func() (lint.Registry, error) {
	return lint.GlobalRegistry().Filter(lint.FilterOptions{
		ExcludeSources: lint.SourceList{lint.CABFCSBaselineRequirements, lint.CABFSMIMEBaselineRequirements},
	})
})

// zlintPrivate lints certificates of other issuers (a private PKI): only
// the RFC and community lints. The Baseline Requirements and the root
// programs bind publicly-trusted CAs alone; run against an internal CA they
// fail every certificate for lacking a certificate policy, AIA and CRL
// distribution point, which says nothing about the deployment.
var zlintPrivate = sync.OnceValues(func() (lint.Registry, error) {
	return lint.GlobalRegistry().Filter(lint.FilterOptions{
		IncludeSources: lint.SourceList{lint.RFC3279, lint.RFC5280, lint.RFC5480, lint.RFC5891, lint.RFC6960, lint.RFC6962, lint.RFC8813, lint.Community},
	})
})

// lintFailure is one error- or fatal-level zlint result.
type lintFailure struct {
	Name     string `json:"name"`
	Status   string `json:"status"` // error, fatal
	Details  string `json:"details,omitempty"`
	Citation string `json:"citation,omitempty"`
	Source   string `json:"source"`
}

// lintCert runs zlint on der and returns the lints at error level or
// above, sorted by name. ok is false when zcrypto cannot parse der.
func lintCert(reg lint.Registry, der []byte) (fails []lintFailure, ok bool) {
	c, err := zx509.ParseCertificate(der)
	if err != nil || c == nil {
		return nil, false
	}
	rs := zlint.LintCertificateEx(c, reg)
	for name, r := range rs.Results {
		if r.Status != lint.Error && r.Status != lint.Fatal {
			continue
		}
		fails = append(fails, lintFailure{Name: name, Status: r.Status.String(), Details: r.Details,
			Citation: r.LintMetadata.Citation, Source: string(r.LintMetadata.Source)})
	}
	sort.Slice(fails, func(i, j int) bool { return fails[i].Name < fails[j].Name })
	return fails, true
}

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "zlint",
		Severity:    reconcile.High,
		Description: "A deployed leaf certificate fails zlint v3 lints at error or fatal level (RFC 5280, CA/B Forum Baseline Requirements, root program policies).",
		Help: "Re-issue the certificate with a compliant profile; the evidence lists each failed lint with its citation. " +
			"Severity is high when the certificate is publicly trusted — its issuer is a built-in (public) CA of the CA table, or it is logged in CT: the Baseline Requirements (4.9.1.1) oblige it to revoke a misissued " +
			"certificate within 5 days, so the endpoint is at risk of an outage on the CA's schedule, and clients may already reject it. " +
			"For other issuers (private PKI) only the RFC and community lints run, since the BRs and root program policies bind public CAs alone, " +
			"and findings are medium: no CA will revoke on its own, but RFC 5280 violations still break strict clients. " +
			"Fatal results (a lint that could not evaluate the certificate at all) rank with errors: they mean a certificate malformed beyond " +
			"what the lint could read, a compliance defect rather than a key compromise, so they are not critical. " +
			"Self-signed leaves are not linted: the baseline profiles assume CA issuance, and those leaves have their own finding.",
		Citations: []string{"RFC 5280 §4", "CA/B Forum BR 7.1 (certificate profile)", "CA/B Forum BR 4.9.1.1 (revocation of misissued certificates)", "zlint v3"},
		Controls:  []string{pciStrongCrypto, hipaaTransmit},
		Run:       runZlint,
	})
}

func runZlint(s *reconcile.Snapshot) []reconcile.Finding {
	if len(s.CertDER) == 0 {
		return nil
	}
	public, err1 := zlintPublic()
	private, err2 := zlintPrivate()
	if err1 != nil || err2 != nil {
		// Filters that name only built-in sources cannot fail; if one
		// does, report nothing rather than lint with the wrong set.
		return nil
	}
	type job struct {
		d      *reconcile.Deployed
		der    []byte
		public bool
		fails  []lintFailure
		ok     bool
	}
	// Certificates logged in CT are publicly trusted whoever issued them.
	inCT := map[string]bool{}
	for _, sg := range s.Sightings {
		inCT[sg.CertSHA256] = true
	}
	var jobs []*job
	for _, d := range s.DeployedLeaves() {
		// Self-signed leaves are skipped: nearly every CA/B and RFC
		// subscriber-profile lint presumes a CA issued the certificate, so
		// they would bury the one useful fact — that the leaf is self-signed
		// — which self-signed-certificate already reports (and whose remedy,
		// issuing from a CA, clears these too).
		if d.Cert.SelfSigned {
			continue
		}
		der := s.CertDER[d.Cert.SHA256]
		if len(der) == 0 {
			continue
		}
		// Public: a built-in (publicly-trusted) CA, or logged in CT. A CA the
		// config adds (caa.cas) is usually an internal one, named there only
		// so CAA decisions can map it; its certificates get the private set.
		ca, known := s.CATable().ForIssuerDN(d.Cert.Issuer)
		pub := known && ca.Source == "builtin" || inCT[d.Cert.SHA256]
		jobs = append(jobs, &job{d: d, der: der, public: pub})
	}
	// Linting is CPU-bound and each certificate independent: spread it
	// over the cores; results land in the jobs, so order stays fixed.
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	next := make(chan *job)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				reg := private
				if j.public {
					reg = public
				}
				j.fails, j.ok = lintCert(reg, j.der)
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()

	var out []reconcile.Finding
	for _, j := range jobs {
		if !j.ok || len(j.fails) == 0 {
			continue
		}
		sev := reconcile.Medium
		if j.public {
			sev = reconcile.High
		}
		names := make([]string, len(j.fails))
		citations := make([]string, 0, len(j.fails))
		for i, f := range j.fails {
			names[i] = f.Name
			if f.Citation != "" {
				citations = append(citations, f.Name+": "+f.Citation)
			}
		}
		msg := fmt.Sprintf("zlint: %d lint(s) failed at error level: %s", len(names), strings.Join(names, ", "))
		for _, ep := range j.d.Endpoints {
			out = append(out, reconcile.Finding{Severity: sev, Subject: j.d.Cert.Subject, SPKISHA256: j.d.Cert.SPKISHA256, CertSHA256: j.d.Cert.SHA256, Endpoint: ep,
				Message:  msg,
				Evidence: map[string]any{"issuer": j.d.Cert.Issuer, "lints": j.fails, "citations": citations}})
		}
	}
	return out
}
