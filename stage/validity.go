package stage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/validity"
)

// validityConcurrency bounds the endpoints checked at once (each may
// fetch an intermediate, an OCSP answer and a CRL).
const validityConcurrency = 8

// ValidityParams are a validity stage's inputs.
type ValidityParams struct {
	// Config configures the checker (validity.New validates it). A nil
	// Logger or Now is taken from the Env; a nil Cache keeps OCSP answers
	// and CRLs in the store (cursors named validity/…) across runs.
	Config validity.Config
	// Group is the run group the run joins ("": none).
	Group string
	// Meta is recorded with the run, beside the stage's own keys
	// (fetch_scope, trust_anchors, revocation).
	Meta map[string]any
}

// storeCache keeps the checker's cache in store cursors.
type storeCache struct {
	st    store.Store
	runID int64
}

func (c storeCache) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := c.st.Cursor(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return b, err
}

func (c storeCache) Put(ctx context.Context, key string, v []byte) error {
	return c.st.Advance(ctx, c.runID, key, v)
}

// Validity checks every endpoint of the estate view that serves a chain
// (its effective observation: what it serves now): chain trust, hostname,
// must-staple and revocation (staple, OCSP, CRL). It also checks the
// revocation (OCSP, CRL) of every certificate of the view's live CT
// sightings whose DER the store holds, its issuer taken from the store or
// fetched through AIA caIssuers within the fetch scope. It records a run
// of kind "validity" holding one records.Validity per endpoint, keyed
// like the observation, and one per CT certificate, keyed by
// records.CTValidityKey, which the estate view reads for the reconcile;
// emit, when not nil, gets each result, endpoints first. The run is
// partial when some endpoint could not be checked (no DER recorded);
// revocation answers that could not be had are data (status unknown),
// not failures.
func Validity(ctx context.Context, env Env, p ValidityParams, emit func(records.Validity) error) (Outcome, error) {
	start := time.Now()
	out := Outcome{Stage: "validity"}
	if env.Store == nil {
		return out, errors.New("validity reads the estate view from the store: no store")
	}
	now := env.now()
	snap, err := LoadEstate(ctx, env.Store, EstateOptions{Now: now})
	if err != nil && !errors.Is(err, ErrEmptyEstate) {
		return out, fmt.Errorf("validity: %w", err)
	}
	var targets []validity.Target
	runs := map[int64]bool{}
	if snap != nil {
		for i := range snap.Endpoints {
			ob, run := snap.Endpoints[i].Effective()
			if ob == nil || ob.Leaf() == nil {
				continue
			}
			targets = append(targets, validity.Target{Obs: *ob, ScanRun: run})
			runs[run] = true
		}
	}
	cts, ctNoDER := ctTargets(snap)
	want := map[string]bool{}
	for _, t := range targets {
		for _, c := range t.Obs.Chain {
			want[c.SHA256] = true
		}
	}
	for _, t := range cts {
		if t.sg.IssuerSHA256 != "" {
			want[t.sg.IssuerSHA256] = true
		}
	}
	ders, err := chainDER(ctx, env.Store, runs, want)
	if err != nil {
		return out, fmt.Errorf("validity: %w", err)
	}
	for i := range cts {
		if d, ok := ders[cts[i].sg.IssuerSHA256]; ok {
			cts[i].Issuers = [][]byte{d}
		}
	}
	for i := range targets {
		for _, c := range targets[i].Obs.Chain {
			if d, ok := ders[c.SHA256]; ok {
				targets[i].DER = append(targets[i].DER, d)
			} else if len(targets[i].DER) == 0 {
				break // no leaf DER: the endpoint cannot be checked
			}
		}
	}

	cfg := p.Config
	if cfg.Logger == nil {
		cfg.Logger = env.logger()
	}
	if cfg.Now == nil {
		cfg.Now = env.now
	}
	rec, err := begin(ctx, env, &out, p.Group, p.Meta, map[string]any{
		"fetch_scope": cfg.Fetch.Scope.String(), "trust_anchors": len(cfg.Anchors), "revocation": !cfg.NoRevocation, "endpoints": len(targets),
		"ct_certificates": len(cts),
	})
	if err != nil {
		return out, err
	}
	defer rec.Close()
	if cfg.Cache == nil {
		cfg.Cache = storeCache{st: env.Store, runID: rec.ID()}
	}
	checker, err := validity.New(cfg)
	if err != nil {
		out.Status, out.Note = store.StatusFailed, err.Error()
		_ = finish(ctx, env, rec, &out, start)
		return out, err
	}

	results := make([]records.Validity, len(targets)+len(cts))
	cnt := newCounter(env, "validity", "checked")
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(validityConcurrency)
	for i := range targets {
		g.Go(func() error {
			if gctx.Err() != nil {
				return gctx.Err()
			}
			if len(targets[i].DER) == 0 {
				results[i] = noDER(targets[i], now)
				return nil
			}
			results[i] = checker.Check(gctx, targets[i])
			cnt.inc()
			return nil
		})
	}
	for i := range cts {
		g.Go(func() error {
			if gctx.Err() != nil {
				return gctx.Err()
			}
			results[len(targets)+i] = cts[i].check(gctx, checker)
			cnt.inc()
			return nil
		})
	}
	runErr := g.Wait()
	cnt.close()
	sum := validitySummary{ctNoDER: ctNoDER}
	if runErr == nil {
		for _, v := range results {
			sum.add(v)
			it, err := records.ValidityItem(v)
			if err == nil {
				err = rec.Add(it)
			}
			if err == nil && emit != nil {
				err = emit(v)
			}
			if err != nil {
				runErr = err
				break
			}
		}
	}
	out.Status, out.Note = store.StatusComplete, sum.note(len(targets), len(cts))
	switch {
	case runErr != nil && ctx.Err() != nil:
		out.Status, out.Note = store.StatusInterrupted, "interrupted: "+out.Note
	case runErr != nil:
		out.Status, out.Note = store.StatusFailed, runErr.Error()
	case sum.noDER > 0:
		out.Status = store.StatusPartial
	}
	err = finish(ctx, env, rec, &out, start)
	if runErr != nil {
		return out, fmt.Errorf("validity: %w", runErr)
	}
	return out, err
}

// noDERPrefix starts the error of an endpoint whose leaf DER is missing.
const noDERPrefix = "not checked"

func noDER(t validity.Target, now time.Time) records.Validity {
	o := t.Obs
	l := o.Leaf()
	return records.Validity{Endpoint: records.ObservationKey(o), Target: o.Target, IP: o.IP, SNI: o.SNI, Protocol: o.Protocol,
		Name: validity.NameOf(o), CertSHA256: l.SHA256, SPKISHA256: l.SPKISHA256, Subject: l.Subject, Serial: l.Serial, ScanRun: t.ScanRun,
		Time: now.UTC(), Revocation: []records.RevocationStatus{}, HostnameOK: true,
		Error: fmt.Sprintf("%s: scan run %d recorded no DER for the leaf", noDERPrefix, t.ScanRun)}
}

// chainDER reads the DER of the certificates wanted (those the targets
// serve, the issuers CT entries name) from the scan runs given.
func chainDER(ctx context.Context, st store.Store, runs map[int64]bool, want map[string]bool) (map[string][]byte, error) {
	out := make(map[string][]byte, len(want))
	ids := make([]int64, 0, len(runs))
	for id := range runs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
	for _, id := range ids {
		err := st.Items(ctx, id, store.KindCertificate, func(it store.Item) error {
			if !want[it.Key] || out[it.Key] != nil {
				return nil
			}
			der, err := records.DecodeCertificateDER(it)
			if err != nil {
				return err
			}
			out[it.Key] = der
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", id, err)
		}
	}
	return out, nil
}

// ctTarget is a certificate seen in CT, to check: the first live
// sighting of it in the estate view, and its DER and stored issuer.
type ctTarget struct {
	validity.CertTarget
	sg records.Sighting
}

// ctTargets are the certificates of the view's live CT sightings whose DER
// the store holds (the estate read it, CertDER), one per certificate
// however many logs hold it; noDER counts the others (a precertificate
// the log gave without a matching DER, say).
func ctTargets(snap *reconcile.Snapshot) (out []ctTarget, noDER int) {
	if snap == nil {
		return nil, 0
	}
	seen := map[string]bool{}
	for _, sg := range snap.Sightings {
		if sg.CertSHA256 == "" || seen[sg.CertSHA256] {
			continue
		}
		seen[sg.CertSHA256] = true
		der, ok := snap.CertDER[sg.CertSHA256]
		if !ok {
			noDER++
			continue
		}
		out = append(out, ctTarget{CertTarget: validity.CertTarget{DER: der}, sg: sg})
	}
	return out, noDER
}

// check checks the certificate and keys the result by its hash.
func (t ctTarget) check(ctx context.Context, c *validity.Checker) records.Validity {
	v := c.CheckCert(ctx, t.CertTarget)
	sg := t.sg
	v.Endpoint, v.Protocol, v.Target, v.Name = records.CTValidityKey(sg.CertSHA256), "ct", ctName(sg), strings.Join(sg.Names, ", ")
	v.CT.Log, v.CT.Index, v.CT.Names, v.CT.Precert = sg.Log, sg.Index, sg.Names, sg.Precert
	if v.CertSHA256 == "" { // unparsed: name it as the log did
		v.CertSHA256, v.SPKISHA256, v.Subject, v.Serial = sg.CertSHA256, sg.SPKISHA256, sg.Subject, sg.Serial
	}
	return v
}

// ctName names a log entry as the CT findings do ("<log>#<index>").
func ctName(sg records.Sighting) string {
	l := sg.Log
	if i := strings.Index(l, "://"); i >= 0 {
		l = l[i+3:]
	}
	return fmt.Sprintf("%s#%d", strings.TrimSuffix(l, "/"), sg.Index)
}

type validitySummary struct {
	trusted, incomplete, untrusted, mismatch, revoked, unknown int
	// ct counts CT certificates checked, ctRevoked and ctUnknown those
	// revoked or of unknown status, ctNoDER those not checked.
	ct, ctRevoked, ctUnknown, ctNoDER int
	// noDER counts endpoints whose leaf DER the store lacks (the run is
	// partial); unparsed those whose leaf Go's parser refuses (data: the
	// scan and zlint report them).
	noDER, unparsed int
}

func (s *validitySummary) add(v records.Validity) {
	if v.CT != nil {
		s.ct++
		switch revocationOf(v) {
		case records.RevRevoked:
			s.ctRevoked++
		case records.RevUnknown:
			s.ctUnknown++
		}
		return
	}
	switch {
	case v.Error != "" && strings.HasPrefix(v.Error, noDERPrefix):
		s.noDER++
		return
	case v.Error != "":
		s.unparsed++
		return
	}
	switch v.Chain.Status {
	case records.ChainTrusted:
		s.trusted++
	case records.ChainIncomplete:
		s.incomplete++
	default:
		s.untrusted++
	}
	if !v.HostnameOK {
		s.mismatch++
	}
	switch revocationOf(v) {
	case records.RevRevoked:
		s.revoked++
	case records.RevUnknown:
		s.unknown++
	}
}

// revocationOf sums up v's sources: revoked if one says so, else unknown
// if one could not say, else good ("" without sources).
func revocationOf(v records.Validity) string {
	out := ""
	for _, r := range v.Revocation {
		switch {
		case r.Status == records.RevRevoked:
			return r.Status
		case r.Status == records.RevUnknown || out == "":
			out = r.Status
		}
	}
	return out
}

func (s validitySummary) note(n, ct int) string {
	parts := []string{fmt.Sprintf("%d endpoints: %d trusted, %d incomplete, %d untrusted", n, s.trusted, s.incomplete, s.untrusted)}
	if s.mismatch > 0 {
		parts = append(parts, fmt.Sprintf("%d hostname mismatches", s.mismatch))
	}
	if s.revoked > 0 {
		parts = append(parts, fmt.Sprintf("%d revoked", s.revoked))
	}
	if s.unknown > 0 {
		parts = append(parts, fmt.Sprintf("%d revocation status unknown", s.unknown))
	}
	if s.unparsed > 0 {
		parts = append(parts, fmt.Sprintf("%d leaves that do not parse", s.unparsed))
	}
	if s.noDER > 0 {
		parts = append(parts, fmt.Sprintf("%d without a recorded leaf", s.noDER))
	}
	if ct > 0 || s.ctNoDER > 0 {
		p := fmt.Sprintf("%d CT certificates: %d revoked, %d revocation status unknown", ct, s.ctRevoked, s.ctUnknown)
		if s.ctNoDER > 0 {
			p += fmt.Sprintf(", %d more without a stored DER", s.ctNoDER)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}
