package store

import (
	"context"
	"errors"
	"slices"
)

// A run group is one logical run made of several store runs: the n shards
// of a sharded scan (keyaudit scan --shard i/n --run-group NAME), or the
// runs of the queue jobs enqueued under one group. Readers that want the
// logical run read the union of the group.

// ErrNoGroup is returned by the group helpers for an empty group name
// (which, in a RunFilter, would match every run).
var ErrNoGroup = errors.New("store: empty run group")

// GroupRuns returns the runs of group, oldest first. kind, when not
// empty, keeps runs of that kind only; statuses, when given, keep runs in
// one of them.
func GroupRuns(ctx context.Context, s Store, kind, group string, statuses ...RunStatus) ([]Run, error) {
	if group == "" {
		return nil, ErrNoGroup
	}
	runs, err := s.Runs(ctx, RunFilter{Kind: kind, Group: group, Status: statuses})
	if err != nil {
		return nil, err
	}
	slices.Reverse(runs) // Runs lists newest first
	return runs, nil
}

// GroupItems calls fn for every item of itemKind in the runs of group
// (GroupRuns with kind and statuses): run after run, oldest first, each
// in insertion order — the union of the group, streamed like Items.
//
// Shards own disjoint endpoints, so their keys do not repeat. A shard run
// twice into the same group contributes both runs; choose with statuses,
// or pick runs with GroupRuns and read them with Items.
func GroupItems(ctx context.Context, s Store, kind, group, itemKind string, statuses []RunStatus, fn func(Run, Item) error) error {
	runs, err := GroupRuns(ctx, s, kind, group, statuses...)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if err := s.Items(ctx, r.ID, itemKind, func(it Item) error { return fn(r, it) }); err != nil {
			return err
		}
	}
	return nil
}

// GroupCount returns the number of items of itemKind in the runs of group
// (GroupRuns with kind and statuses).
func GroupCount(ctx context.Context, s Store, kind, group, itemKind string, statuses ...RunStatus) (int64, error) {
	runs, err := GroupRuns(ctx, s, kind, group, statuses...)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range runs {
		c, err := s.Count(ctx, r.ID, itemKind)
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}
