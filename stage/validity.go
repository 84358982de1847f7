package stage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

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
// must-staple and revocation (staple, OCSP, CRL). It records a run of
// kind "validity" holding one records.Validity per endpoint, keyed like
// the observation, which the estate view reads for the reconcile; emit,
// when not nil, gets each result in endpoint order. The run is partial
// when some endpoint could not be checked (no DER recorded); revocation
// answers that could not be had are data (status unknown), not failures.
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
	ders, err := chainDER(ctx, env.Store, runs, targets)
	if err != nil {
		return out, fmt.Errorf("validity: %w", err)
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

	results := make([]records.Validity, len(targets))
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
			return nil
		})
	}
	runErr := g.Wait()
	var sum validitySummary
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
	out.Status, out.Note = store.StatusComplete, sum.note(len(targets))
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

// chainDER reads the DER of every certificate the targets serve from the
// scan runs that saw them.
func chainDER(ctx context.Context, st store.Store, runs map[int64]bool, targets []validity.Target) (map[string][]byte, error) {
	want := map[string]bool{}
	for _, t := range targets {
		for _, c := range t.Obs.Chain {
			want[c.SHA256] = true
		}
	}
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

type validitySummary struct {
	trusted, incomplete, untrusted, mismatch, revoked, unknown int
	// noDER counts endpoints whose leaf DER the store lacks (the run is
	// partial); unparsed those whose leaf Go's parser refuses (data: the
	// scan and zlint report them).
	noDER, unparsed int
}

func (s *validitySummary) add(v records.Validity) {
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
	rev, unk := false, false
	for _, r := range v.Revocation {
		rev = rev || r.Status == records.RevRevoked
		unk = unk || r.Status == records.RevUnknown
	}
	if rev {
		s.revoked++
	} else if unk {
		s.unknown++
	}
}

func (s validitySummary) note(n int) string {
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
	return strings.Join(parts, ", ")
}
