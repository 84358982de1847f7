package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/store"
)

// InventoryParams are an inventory's inputs.
type InventoryParams struct {
	// Sources are read in order, each key getting its source's Defaults
	// before the Rules apply. The caller opened them (bad input fails
	// there, before anything is recorded: inventory/plan) and closes them.
	Sources []inventory.Opened
	// Rules attach metadata to the keys (compiled: inventory.Rules.Compile).
	Rules inventory.Rules
	// Scrub removes secrets (PINs, passwords) from a source's error and
	// warnings and from the error Inventory returns before they are
	// printed or recorded; nil keeps them as they are.
	Scrub func(string) string
	// Group is the run group the run joins ("": none).
	Group string
	// Meta is recorded with the run, under the stage's own key (sources).
	Meta map[string]any
}

// Inventory lists every key of p.Sources and records a run of kind
// "inventory" (group p.Group) holding, per source, its keys
// (store.KindKey, keyed "<source>|<ref>") and how its read ended
// (store.KindSourceStatus, keyed by the source's name, the
// inventory.Result) — for every source, complete ones included, so the
// estate view takes each source's keys from its latest complete read.
// emit, when not nil, gets each key.
//
// The run ends complete when every source was read whole; partial when
// some were not; failed when none listed anything or a key could not be
// written; interrupted when ctx ended first. A source that could not be
// read is reported on env.Stderr and recorded, not returned as an error:
// the error is non-nil when the stage did not run to its end (a key that
// could not be written or emitted, ctx ended) or its records could not
// be written; p.Scrub has passed over it. With env.Store nil nothing is
// recorded.
func Inventory(ctx context.Context, env Env, p InventoryParams, emit func(inventory.Key) error) (out Outcome, err error) {
	defer func() { err = inventory.ScrubError(err, p.Scrub) }()
	start := time.Now()
	out = Outcome{Stage: "inventory"}
	if len(p.Sources) == 0 {
		return out, errors.New("inventory: no sources")
	}
	scrub := p.Scrub
	if scrub == nil {
		scrub = func(s string) string { return s }
	}
	names := sourceNames(p.Sources)
	rec, err := begin(ctx, env, &out, p.Group, p.Meta, map[string]any{"sources": names})
	if err != nil {
		return out, err
	}
	if rec != nil {
		defer rec.Close()
	}

	var results []inventory.Result
	var writeErr error
	bar := newSourceBar(env, len(p.Sources))
	for i, s := range p.Sources {
		if ctx.Err() != nil {
			break
		}
		name := names[i]
		bar.source(name)
		res := s.Source.Keys(ctx, func(k inventory.Key) error {
			bar.key()
			s.Defaults.Apply(&k)
			p.Rules.Apply(&k)
			if rec != nil {
				it, err := keyItem(name, k)
				if err == nil {
					err = rec.Add(it)
				}
				if err != nil {
					writeErr = fmt.Errorf("store: %w", err)
					return writeErr
				}
			}
			if emit != nil {
				if err := emit(k); err != nil {
					writeErr = err
					return err
				}
			}
			return nil
		})
		res.Source = name
		if res.Err != nil {
			res.Error = res.Err.Error()
		}
		if res.Error != "" {
			res.Error = scrub(res.Error)
		}
		for j, w := range res.Warnings {
			res.Warnings[j] = scrub(w)
			env.logger().Debug("inventory: warning", "source", name, "warning", res.Warnings[j])
		}
		results = append(results, res)
		bar.sourceDone()
		if rec != nil {
			it, err := sourceStatusItem(res)
			if err == nil {
				err = rec.Add(it)
			}
			if err != nil && writeErr == nil {
				writeErr = fmt.Errorf("store: %w", err)
			}
		}
		if writeErr != nil {
			break
		}
	}

	bar.close()

	// Complete only when every source was listed whole.
	incomplete, total := 0, 0
	var notes []string
	for _, r := range results {
		total += r.Keys
		if r.Status != inventory.StatusComplete {
			incomplete++
			notes = append(notes, fmt.Sprintf("%s %s: %s", r.Source, r.Status, r.Error))
			fmt.Fprintf(env.stderr(), "keyaudit: inventory: %s is %s: %s\n", r.Source, r.Status, r.Error)
		}
	}
	sort.Strings(notes)
	out.Status, out.Note = store.StatusComplete, fmt.Sprintf("%d keys from %d sources", total, len(results))
	if len(notes) > 0 {
		out.Note += "; " + strings.Join(notes, "; ")
	}
	switch {
	case ctx.Err() != nil:
		out.Status, out.Note = store.StatusInterrupted, "interrupted: "+out.Note
	case writeErr != nil:
		out.Status, out.Note = store.StatusFailed, scrub(writeErr.Error())
	case incomplete > 0 && incomplete == len(results) && total == 0:
		out.Status = store.StatusFailed
	case incomplete > 0:
		out.Status = store.StatusPartial
	}
	err = finish(ctx, env, rec, &out, start)
	switch {
	case ctx.Err() != nil:
		return out, fmt.Errorf("inventory interrupted: %w", ctx.Err())
	case writeErr != nil:
		return out, fmt.Errorf("inventory: %w", writeErr)
	}
	return out, err
}

// sourceNames are the names the sources are recorded under: each
// source's Name, "|" escaped (it separates the source from the ref in a
// key's item key), and "#n" appended to a name already taken in this
// run.
func sourceNames(srcs []inventory.Opened) []string {
	names := make([]string, len(srcs))
	seen := map[string]int{}
	for i, s := range srcs {
		n := strings.ReplaceAll(s.Source.Name(), "|", "%7C")
		seen[n]++
		if c := seen[n]; c > 1 {
			n = fmt.Sprintf("%s#%d", n, c)
		}
		names[i] = n
	}
	return names
}

// keyItem is the store item of a key read from source: keyed
// "<source>|<ref>", so readers tell which source listed it.
func keyItem(source string, k inventory.Key) (store.Item, error) {
	return jsonItem(store.Item{Kind: store.KindKey, Key: source + "|" + k.Ref, SPKISHA256: k.SPKISHA256, CertSHA256: k.CertSHA256}, k)
}

// sourceStatusItem is the store item of how a source's read ended, keyed
// by the source's name.
func sourceStatusItem(r inventory.Result) (store.Item, error) {
	return jsonItem(store.Item{Kind: store.KindSourceStatus, Key: r.Source}, r)
}

// jsonItem is it with v, encoded, as its data.
func jsonItem(it store.Item, v any) (store.Item, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return it, fmt.Errorf("encode %s %s: %w", it.Kind, it.Key, err)
	}
	it.Data = b
	return it, nil
}
