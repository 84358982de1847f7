package kmip

import (
	"context"
	"fmt"
	"time"

	"github.com/ovh/kmip-go"
	"github.com/ovh/kmip-go/kmipclient"
	"github.com/ovh/kmip-go/payloads"

	"github.com/keyaudit/keyaudit/inventory"
)

var _ inventory.Destroyer = (*Source)(nil)

// Destroy revokes, then destroys, each object of r by its Unique
// Identifier (KMIP identifiers are never reused, so the identifier is the
// object). Revoke moves an active object to Deactivated (cessation of
// operation) or Compromised (key compromise) — servers refuse to destroy
// an active object — and is skipped for objects without a state
// (certificates on some servers). An identifier the server no longer
// knows is already gone.
func (s *Source) Destroy(ctx context.Context, r inventory.DestroyRequest) []inventory.DestroyOutcome {
	out := make([]inventory.DestroyOutcome, len(r.Objects))
	code := kmip.RevocationReasonCodeCessationOfOperation
	if r.Reason == inventory.RevokeKeyCompromise {
		code = kmip.RevocationReasonCodeKeyCompromise
	}
	// Private keys first: once the private half is destroyed, nothing can
	// sign with the pair, whatever happens to the rest.
	order := make([]int, 0, len(r.Objects))
	for _, class := range []inventory.Class{inventory.ClassPrivateKey, inventory.ClassSecretKey, inventory.ClassPublicKey, inventory.ClassCertificate} {
		for i, k := range r.Objects {
			if k.Class == class {
				order = append(order, i)
			}
		}
	}
	for i, k := range r.Objects {
		out[i] = inventory.DestroyOutcome{Ref: k.Ref, Outcome: inventory.DestroyFailed, Message: "not attempted"}
	}
	for _, i := range order {
		k := r.Objects[i]
		if k.Token != s.name {
			out[i].Message = fmt.Sprintf("kmip: object %s belongs to %s, not %s", k.ID, k.Token, s.name)
			continue
		}
		if err := ctx.Err(); err != nil {
			out[i].Message = fmt.Sprintf("not destroyed: %v", err)
			continue
		}
		out[i] = s.destroyOne(ctx, k, code)
	}
	return out
}

func (s *Source) destroyOne(ctx context.Context, k inventory.Key, code kmip.RevocationReasonCode) inventory.DestroyOutcome {
	o := inventory.DestroyOutcome{Ref: k.Ref, Outcome: inventory.DestroyFailed}
	if s.client == nil {
		o.Message = "kmip: source closed"
		return o
	}
	rev := &payloads.RevokeRequestPayload{UniqueIdentifier: k.ID, RevocationReason: kmip.RevocationReason{RevocationReasonCode: code, RevocationMessage: "keyaudit destroy"}}
	if code == kmip.RevocationReasonCodeKeyCompromise {
		now := time.Now().UTC().Truncate(time.Second)
		rev.CompromiseOccurrenceDate = &now
	}
	revoked := ""
	switch bi, err := s.item(ctx, rev); {
	case err != nil:
		o.Message = fmt.Sprintf("kmip: %s: revoke %s: %v", s.name, k.ID, err)
		return o
	case bi.ResultStatus == kmip.ResultStatusSuccess:
		revoked = "revoked, then "
	case bi.ResultReason == kmip.ResultReasonItemNotFound:
		o.Outcome, o.Message = inventory.DestroyAlreadyGone, fmt.Sprintf("%s no longer holds object %s", s.name, k.ID)
		return o
	default:
		// Not revocable (no state, already deactivated): Destroy decides.
		s.log.Debug("kmip: revoke refused; destroying", "object", k.ID, "error", bi.Err())
	}
	switch bi, err := s.item(ctx, &payloads.DestroyRequestPayload{UniqueIdentifier: k.ID}); {
	case err != nil:
		o.Message = fmt.Sprintf("kmip: %s: destroy %s: %v", s.name, k.ID, err)
	case bi.ResultStatus == kmip.ResultStatusSuccess:
		o.Outcome, o.Message = inventory.DestroyDestroyed, fmt.Sprintf("%sdestroyed by %s", revoked, s.name)
	case bi.ResultReason == kmip.ResultReasonItemNotFound:
		o.Outcome, o.Message = inventory.DestroyAlreadyGone, fmt.Sprintf("%s no longer holds object %s", s.name, k.ID)
	default:
		o.Message = fmt.Sprintf("kmip: %s: destroy %s refused: %v", s.name, k.ID, bi.Err())
	}
	return o
}

// item sends one operation and returns its batch item: a transport
// failure is an error, a refusal is in the item.
func (s *Source) item(ctx context.Context, pl kmip.OperationPayload) (*kmip.ResponseBatchItem, error) {
	br, err := s.client.BatchOpt(ctx, []kmip.OperationPayload{pl}, kmipclient.OnBatchErr(kmip.BatchErrorContinuationOptionContinue))
	if err != nil {
		return nil, err
	}
	if len(br) != 1 {
		return nil, fmt.Errorf("%d batch items in the response to 1", len(br))
	}
	return &br[0], nil
}
