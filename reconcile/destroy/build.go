package destroy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/reconcile"
)

// DefaultOrphanedFor is how long a key must have been orphaned before
// Build proposes it, unless told otherwise.
const DefaultOrphanedFor = 90 * 24 * time.Hour

// DefaultPendingWindow is AWS KMS's waiting period Build asks for: the
// longest AWS allows, so a mistaken deletion can still be cancelled.
const DefaultPendingWindow = 30 * 24 * time.Hour

// PlanOptions are the choices a plan is built with.
type PlanOptions struct {
	// Grounds to look for (default AllGrounds).
	Grounds []string
	// OrphanedFor is how long a key's orphaned-key finding must have
	// been open (default DefaultOrphanedFor; a negative value means 0).
	OrphanedFor time.Duration
	// Keys are keys named by the operator: refs or SPKI SHA-256 hashes.
	Keys []string
	// Sources limits the plan to these inventory sources (default all).
	Sources []string
	// PendingWindow is the AWS KMS waiting period (default
	// DefaultPendingWindow).
	PendingWindow time.Duration
	CreatedBy     string
	Note          string
	Now           time.Time
}

// Inputs are the findings Build weighs, with their lifecycle.
type Inputs struct {
	// Findings are the current findings of the orphaned-key and
	// cryptoperiod-exceeded checks on the snapshot.
	Findings []reconcile.Finding
	// OpenSince says since when a finding (by fingerprint) has been
	// open, from the store's findings lifecycle; false when it was never
	// recorded.
	OpenSince func(fingerprint string) (time.Time, bool)
}

// GroundChecks are the checks whose findings Build reads, by ground.
var GroundChecks = map[string]string{GroundOrphaned: "orphaned-key", GroundCryptoperiod: "cryptoperiod-exceeded"}

func (o *PlanOptions) defaults() error {
	if len(o.Grounds) == 0 && len(o.Keys) == 0 {
		o.Grounds = AllGrounds
	}
	for _, g := range o.Grounds {
		if !slices.Contains(AllGrounds, g) {
			return fmt.Errorf("unknown ground %q (want %s)", g, strings.Join(AllGrounds, ", "))
		}
	}
	if o.OrphanedFor == 0 {
		o.OrphanedFor = DefaultOrphanedFor
	}
	o.OrphanedFor = max(0, o.OrphanedFor)
	if o.PendingWindow == 0 {
		o.PendingWindow = DefaultPendingWindow
	}
	if d := o.PendingWindow; d < 7*24*time.Hour || d > 30*24*time.Hour || d%(24*time.Hour) != 0 {
		return fmt.Errorf("AWS KMS waiting period %v: AWS allows whole days from 7 to 30", d)
	}
	if strings.TrimSpace(o.CreatedBy) == "" {
		return errors.New("a plan needs its creator's identity")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	return nil
}

// candidate is one key of one source, gathering its grounds.
type candidate struct {
	source  string
	spki    string
	objects []inventory.Key
	grounds []Ground
}

// Build proposes the destruction of the keys of snapshot s that meet the
// options' grounds, leaving out (in Plan.Skipped) those it must not
// touch: keys in use, keys keyaudit cannot destroy (files), and every key
// when the estate cannot show what is in use.
func Build(s *reconcile.Snapshot, in Inputs, o PlanOptions) (*Plan, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	now := o.Now.UTC().Truncate(time.Second)
	p := &Plan{Version: PlanVersion, ID: newPlanID(now), Created: now, CreatedBy: o.CreatedBy, Note: o.Note,
		Source:  fmt.Sprintf("estate of %s", now.Format(time.RFC3339)),
		Policy:  Policy{Grounds: o.Grounds, OrphanedDays: int(o.OrphanedFor / (24 * time.Hour)), PendingWindow: int(o.PendingWindow / (24 * time.Hour)), Keys: o.Keys, Sources: o.Sources},
		Actions: []Action{}}

	// Group the inventory's objects by source and key: one action
	// destroys a key's every object in one source.
	groups := map[string]*candidate{}
	var order []string
	groupKey := func(i int) string {
		k := &s.Keys[i]
		if k.SPKISHA256 == "" {
			return s.KeySource(i) + "|ref|" + k.Ref
		}
		return s.KeySource(i) + "|spki|" + k.SPKISHA256
	}
	for i := range s.Keys {
		src := s.KeySource(i)
		if len(o.Sources) > 0 && !slices.Contains(o.Sources, src) {
			continue
		}
		g := groupKey(i)
		c, ok := groups[g]
		if !ok {
			c = &candidate{source: src, spki: s.Keys[i].SPKISHA256}
			groups[g] = c
			order = append(order, g)
		}
		c.objects = append(c.objects, s.Keys[i])
	}
	addGround := func(match func(c *candidate) bool, gr Ground) bool {
		found := false
		for _, g := range order {
			if c := groups[g]; match(c) {
				c.grounds = append(c.grounds, gr)
				found = true
			}
		}
		return found
	}

	for _, f := range in.Findings {
		var ground string
		for g, check := range GroundChecks {
			if f.Check == check && slices.Contains(o.Grounds, g) {
				ground = g
			}
		}
		if ground == "" || f.Suppressed {
			continue
		}
		gr := Ground{Kind: ground, Check: f.Check, Finding: f.Fingerprint(), Detail: f.Message}
		if ground == GroundOrphaned {
			since, ok := time.Time{}, false
			if in.OpenSince != nil {
				since, ok = in.OpenSince(f.Fingerprint())
			}
			if !ok {
				since = now // never recorded: orphaned as of now
			}
			if now.Sub(since) < o.OrphanedFor {
				p.Skipped = append(p.Skipped, Skipped{Name: f.Subject, SPKI: f.SPKISHA256, Source: f.Source,
					Why: fmt.Sprintf("orphaned since %s, not yet %d days", since.Format(time.DateOnly), p.Policy.OrphanedDays)})
				continue
			}
			gr.Since = &since
			gr.Detail = fmt.Sprintf("served nowhere and in no CT certificate since %s (%d days)", since.Format(time.DateOnly), int(now.Sub(since)/(24*time.Hour)))
		}
		addGround(func(c *candidate) bool { return findingIsAbout(f, c) }, gr)
	}
	if slices.Contains(o.Grounds, GroundCompromised) {
		for _, g := range order {
			c := groups[g]
			for _, k := range c.objects {
				if k.State == "compromised" {
					c.grounds = append(c.grounds, Ground{Kind: GroundCompromised, Detail: fmt.Sprintf("%s marks %s %s compromised", c.source, k.Class, k.Name())})
					break
				}
			}
		}
	}
	for _, want := range o.Keys {
		gr := Ground{Kind: GroundRequested, Detail: "named by " + o.CreatedBy}
		if !addGround(func(c *candidate) bool {
			return c.spki != "" && c.spki == strings.ToLower(want) || slices.ContainsFunc(c.objects, func(k inventory.Key) bool { return k.Ref == want })
		}, gr) {
			return nil, fmt.Errorf("--key %s: no inventory key has this ref or SPKI SHA-256", want)
		}
	}

	blocked := unusedReason(s)
	for _, g := range order {
		c := groups[g]
		if len(c.grounds) == 0 {
			continue
		}
		name := c.objects[0].Name()
		skip := func(why string) {
			p.Skipped = append(p.Skipped, Skipped{Source: c.source, Name: name, SPKI: c.spki, Why: why})
		}
		exec := executorOf(c.objects[0].Source)
		switch {
		case exec == "":
			skip(fmt.Sprintf("keyaudit does not destroy %s keys: remove it by hand and record why", c.objects[0].Source))
			continue
		case c.source == "":
			skip("the inventory read that listed it does not name its source")
			continue
		case blocked != "" && c.spki != "":
			skip(blocked)
			continue
		}
		if why, used := s.InUse(c.spki); used {
			skip("in use: " + why)
			continue
		}
		a := Action{Source: c.source, Executor: exec, Name: name, SPKISHA256: c.spki, KeyType: c.objects[0].KeyType, KeyBits: c.objects[0].KeyBits,
			Objects: c.objects, Grounds: c.grounds}
		switch exec {
		case ExecutorKMIP:
			a.Reason = inventory.RevokeCessation
			if slices.ContainsFunc(c.grounds, func(g Ground) bool { return g.Kind == GroundCompromised }) {
				a.Reason = inventory.RevokeKeyCompromise
			}
		case ExecutorAWSKMS:
			a.PendingWindowDays = p.Policy.PendingWindow
		}
		p.Actions = append(p.Actions, a)
	}
	p.Hash = p.ComputeHash()
	return p, nil
}

// findingIsAbout says whether a finding about a key names candidate c:
// by SPKI for asymmetric keys, else by the key's name and source.
func findingIsAbout(f reconcile.Finding, c *candidate) bool {
	if f.SPKISHA256 != "" {
		return c.spki == f.SPKISHA256
	}
	for _, k := range c.objects {
		if k.Name() == f.Subject && (f.Source == k.URI || f.Source == k.Path) {
			return true
		}
	}
	return false
}
