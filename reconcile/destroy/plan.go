package destroy

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/guard"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/reconcile"
)

// Kind is destruction's name in the guarded-action trail.
var Kind = guard.Kind{Name: "destroy", Command: "keyaudit destroy"}

// PlanVersion is the plan file format version.
const PlanVersion = 1

// Executors: the inventory source kinds that can destroy keys.
const (
	ExecutorPKCS11 = "pkcs11"
	ExecutorKMIP   = "kmip"
	ExecutorAWSKMS = "awskms"
)

// Grounds for destroying a key.
const (
	GroundOrphaned     = "orphaned"     // served nowhere, in no unexpired CT certificate, for at least the policy age
	GroundCryptoperiod = "cryptoperiod" // past its cryptoperiod
	GroundCompromised  = "compromised"  // the key manager marks it compromised, and it is no longer in use
	GroundRequested    = "requested"    // named by the operator
)

// AllGrounds are the grounds Build looks for by default (requested keys
// come from PlanOptions.Keys).
var AllGrounds = []string{GroundOrphaned, GroundCryptoperiod, GroundCompromised}

// Plan is a reviewed list of key destructions. Everything in it is
// covered by Hash; an approval binds to that hash.
type Plan struct {
	Version   int       `json:"version"`
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
	// Source says what the plan was built from.
	Source string `json:"source"`
	Note   string `json:"note,omitempty"`
	// Policy is what the plan was built with, for reviewers.
	Policy  Policy    `json:"policy"`
	Actions []Action  `json:"actions"`
	Skipped []Skipped `json:"skipped,omitempty"`
	Hash    string    `json:"hash"`
}

// Policy records the choices a plan was built with.
type Policy struct {
	Grounds       []string `json:"grounds"`
	OrphanedDays  int      `json:"orphaned_days"`
	PendingWindow int      `json:"aws_pending_window_days,omitempty"`
	Keys          []string `json:"keys,omitempty"`
	Sources       []string `json:"sources,omitempty"`
}

// Action is the destruction of one key in one inventory source: every
// object of the key there.
type Action struct {
	// Source is the inventory source's name (a PKCS#11 URI, kmip://…,
	// awskms://…), which the executor must open.
	Source   string `json:"source"`
	Executor string `json:"executor"`
	// Name is the key's name for people (label, identifier).
	Name       string `json:"name"`
	SPKISHA256 string `json:"spki_sha256,omitempty"`
	KeyType    string `json:"key_type"`
	KeyBits    int    `json:"key_bits,omitempty"`
	// Objects are the key's objects as the inventory last read them.
	Objects []inventory.Key `json:"objects"`
	Grounds []Ground        `json:"grounds"`
	// Reason is the revocation reason a KMIP server records before
	// Destroy (inventory.RevokeKeyCompromise or RevokeCessation).
	Reason string `json:"reason,omitempty"`
	// PendingWindowDays is AWS KMS's waiting period.
	PendingWindowDays int `json:"pending_window_days,omitempty"`
}

// Ground is one reason to destroy a key.
type Ground struct {
	Kind    string `json:"kind"`
	Detail  string `json:"detail"`
	Check   string `json:"check,omitempty"`
	Finding string `json:"finding,omitempty"` // the finding's fingerprint
	// Since is when the ground began (the orphaned-key finding opened).
	Since *time.Time `json:"since,omitempty"`
}

// Skipped is a candidate the plan leaves alone, and why.
type Skipped struct {
	Source string `json:"source"`
	Name   string `json:"name"`
	SPKI   string `json:"spki_sha256,omitempty"`
	Why    string `json:"why"`
}

// Refs are the refs of the action's objects.
func (a Action) Refs() []string {
	out := make([]string, len(a.Objects))
	for i, k := range a.Objects {
		out[i] = k.Ref
	}
	return out
}

// ComputeHash is the hex SHA-256 of the plan's JSON with Hash empty.
func (p *Plan) ComputeHash() string {
	q := *p
	q.Hash = ""
	return guard.Hash(q)
}

// PlanID, StatedHash and Creator let the guarded-action trail read the
// plan (guard.Plan).
func (p *Plan) PlanID() string     { return p.ID }
func (p *Plan) StatedHash() string { return p.Hash }
func (p *Plan) Creator() string    { return p.CreatedBy }

func newPlanID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "dp-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// executorOf is the executor of keys of an inventory backend ("" when
// keyaudit cannot destroy them: files are deleted by hand).
func executorOf(kind string) string {
	switch kind {
	case ExecutorPKCS11, ExecutorKMIP:
		return kind
	case "aws-kms":
		return ExecutorAWSKMS
	}
	return ""
}

// Validate checks the plan is well formed: known executors and grounds,
// objects of the action's source and executor, one key per action.
func (p *Plan) Validate() error {
	if p.Version != PlanVersion {
		return fmt.Errorf("plan version %d, want %d", p.Version, PlanVersion)
	}
	if !strings.HasPrefix(p.ID, "dp-") {
		return fmt.Errorf("plan ID %q is not a keyaudit destruction plan ID", p.ID)
	}
	if strings.TrimSpace(p.CreatedBy) == "" {
		return errors.New("plan has no creator")
	}
	seen := map[string]bool{}
	for i, a := range p.Actions {
		if err := a.validate(); err != nil {
			return fmt.Errorf("plan %s action %d: %w", p.ID, i+1, err)
		}
		for _, r := range a.Refs() {
			if seen[a.Source+"|"+r] {
				return fmt.Errorf("plan %s action %d: object %s planned twice", p.ID, i+1, r)
			}
			seen[a.Source+"|"+r] = true
		}
	}
	return nil
}

func (a Action) validate() error {
	if a.Source == "" {
		return errors.New("no source")
	}
	if a.Executor != ExecutorPKCS11 && a.Executor != ExecutorKMIP && a.Executor != ExecutorAWSKMS {
		return fmt.Errorf("unknown executor %q", a.Executor)
	}
	if len(a.Objects) == 0 {
		return errors.New("no object to destroy")
	}
	if len(a.Grounds) == 0 {
		return errors.New("no ground")
	}
	for _, g := range a.Grounds {
		switch g.Kind {
		case GroundOrphaned, GroundCryptoperiod, GroundCompromised, GroundRequested:
		default:
			return fmt.Errorf("unknown ground %q", g.Kind)
		}
	}
	for _, k := range a.Objects {
		if executorOf(k.Source) != a.Executor {
			return fmt.Errorf("object %s is a %s object, not %s", k.Ref, k.Source, a.Executor)
		}
		if k.Ref == "" {
			return errors.New("an object without a ref")
		}
		if k.SPKISHA256 != a.SPKISHA256 && k.Class != inventory.ClassSecretKey {
			return fmt.Errorf("object %s has key %s, the action's is %s: one key per action", k.Ref, short(k.SPKISHA256), short(a.SPKISHA256))
		}
	}
	switch a.Executor {
	case ExecutorKMIP:
		if a.Reason != inventory.RevokeKeyCompromise && a.Reason != inventory.RevokeCessation {
			return fmt.Errorf("KMIP revocation reason %q (want %s or %s)", a.Reason, inventory.RevokeKeyCompromise, inventory.RevokeCessation)
		}
	case ExecutorAWSKMS:
		if a.PendingWindowDays < 7 || a.PendingWindowDays > 30 {
			return fmt.Errorf("AWS KMS waiting period of %d days (AWS allows 7 to 30)", a.PendingWindowDays)
		}
	}
	return nil
}

func short(h string) string { return guard.ShortHash(h) }

// Marshal encodes the plan as indented JSON, for files and review.
func (p *Plan) Marshal() ([]byte, error) { return guard.Marshal(p) }

// WriteFile writes the plan to path (guard.WriteFile).
func (p *Plan) WriteFile(path string) error { return guard.WriteFile(path, p) }

// ReadPlan decodes a plan strictly: unknown fields and trailing data are
// errors.
func ReadPlan(r io.Reader) (*Plan, error) { return normal(guard.Decode[Plan](r)) }

// ReadPlanFile reads a plan file.
func ReadPlanFile(path string) (*Plan, error) { return normal(guard.ReadFile[Plan](path)) }

// normal gives a plan read without actions an empty list of them.
func normal(p *Plan, err error) (*Plan, error) {
	if p != nil && p.Actions == nil {
		p.Actions = []Action{}
	}
	return p, err
}

// unusedReason is why the estate cannot show that a key is unused, or "".
func unusedReason(s *reconcile.Snapshot) string {
	switch {
	case !s.HasSource("scan"):
		return "the estate holds no scan: keyaudit cannot show the key is served nowhere"
	case !s.SourceComplete("scan"):
		return "the estate's scan input is partial: keyaudit cannot show the key is served nowhere"
	case !s.SourceComplete("ct"):
		return "the estate's CT input is partial: keyaudit cannot show the key is in no unexpired CT certificate"
	}
	return ""
}
