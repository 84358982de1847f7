package stage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/scanner/caa"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// CAAParams are a CAA stage's inputs.
type CAAParams struct {
	// Config configures the checker (caa.New validates it). A nil Logger
	// or Now is taken from the Env.
	Config caa.Config
	// Names are the names to look up, each once, normalised as
	// caa.NormalizeName reads them ("example.com", "*.example.com").
	Names []string
	// CAs are the issuer-domain-names to decide for: one result per
	// (name, CA). None: one result per name, with the CAs it permits.
	CAs []string
	// AccountURI and ValidationMethod are checked against the RFC 8657
	// parameters of the properties naming a CA (empty: not checked).
	AccountURI       string
	ValidationMethod string
	// Group is the run group the run joins ("": none).
	Group string
	// Meta is recorded with the run, under the stage's own keys (names,
	// cas, resolvers, dnssec, account_uri, validation_method).
	Meta map[string]any
}

// CAA looks up the relevant CAA RRset of every name, records a run of
// kind "caa" (group p.Group) holding each result (records.CAAItem), and
// calls emit, when not nil, with each result in the order of p.Names.
// The run ends complete; partial when some lookups failed (the failures
// are results too); interrupted when ctx ended first; failed when the
// run or the store failed. With env.Store nil nothing is recorded. The
// error is non-nil when the lookups did not run to their end or the
// results could not be written, not for failed lookups.
func CAA(ctx context.Context, env Env, p CAAParams, emit func(caa.Result) error) (Outcome, error) {
	start := time.Now()
	out := Outcome{Stage: "caa"}
	if len(p.Names) == 0 {
		return out, errors.New("caa: no names")
	}
	cfg := p.Config
	if cfg.Logger == nil {
		cfg.Logger = env.logger()
	}
	if cfg.Now == nil {
		cfg.Now = env.now
	}
	checker, err := caa.New(cfg)
	if err != nil {
		return out, fmt.Errorf("caa: %w", err)
	}
	rec, err := begin(ctx, env, &out, p.Group, p.Meta, map[string]any{
		"names": p.Names, "cas": p.CAs, "resolvers": cfg.Resolvers, "dnssec": cfg.DNSSEC,
		"account_uri": p.AccountURI, "validation_method": p.ValidationMethod,
	})
	if err != nil {
		return out, err
	}
	if rec != nil {
		defer rec.Close()
	}

	put := func(r caa.Result) error {
		if rec != nil {
			it, err := records.CAAItem(r)
			if err != nil {
				return err
			}
			if err := rec.Add(it); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
		if emit != nil {
			return emit(r)
		}
		return nil
	}
	cnt := newCounter(env, "caa", "results")
	put = countEmit(cnt, put)
	req := caa.Request{AccountURI: p.AccountURI, ValidationMethod: p.ValidationMethod}
	failed := map[caa.ErrorKind]int{}
	var denied, allowed int
	runErr := checker.LookupAll(ctx, p.Names, func(l *caa.Lookup) error {
		if len(p.CAs) == 0 {
			r := l.Result()
			if r.Error != nil {
				failed[r.Error.Kind]++
			}
			return put(r)
		}
		for _, ca := range p.CAs {
			rq := req
			rq.Identifiers = []string{ca}
			r := l.ResultFor(ca, rq)
			switch {
			case r.Error != nil:
				failed[r.Error.Kind]++
			case r.Allowed:
				allowed++
			default:
				denied++
			}
			if err := put(r); err != nil {
				return err
			}
		}
		return nil
	})
	cnt.close()

	note := fmt.Sprintf("%d names", len(p.Names))
	if len(p.CAs) > 0 {
		note += fmt.Sprintf(", %d CAs: %d allowed, %d not allowed", len(p.CAs), allowed, denied)
	}
	failures := make([]string, 0, len(failed))
	for k, n := range failed {
		failures = append(failures, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(failures)
	if len(failures) > 0 {
		note += ", lookups failed: " + strings.Join(failures, ", ")
	}
	out.Status, out.Note = store.StatusComplete, note
	switch {
	case runErr != nil && ctx.Err() != nil:
		out.Status, out.Note = store.StatusInterrupted, "interrupted: "+note
	case runErr != nil:
		out.Status, out.Note = store.StatusFailed, runErr.Error()
	case failed[caa.KindCanceled] > 0:
		out.Status, out.Note = store.StatusInterrupted, "interrupted: "+note
	case len(failures) > 0:
		out.Status = store.StatusPartial
	}
	err = finish(ctx, env, rec, &out, start)
	if runErr != nil {
		return out, fmt.Errorf("caa: %w", runErr)
	}
	return out, err
}
