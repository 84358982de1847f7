package awskms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keyaudit/keyaudit/inventory"
)

var _ inventory.Destroyer = (*Source)(nil)

// AWS KMS's bounds on the waiting period before a key is deleted.
const (
	MinPendingWindow = 7 * 24 * time.Hour
	MaxPendingWindow = 30 * 24 * time.Hour
)

// Destroy schedules the deletion of each key of r (ScheduleKeyDeletion)
// after r.PendingWindow, rounded to whole days within AWS's 7 to 30. AWS
// deletes the key when the window ends; until then it is pending deletion,
// which is what a scheduled outcome says. A key already pending deletion
// is reported scheduled with its date; a key AWS no longer knows is
// already gone.
func (s *Source) Destroy(ctx context.Context, r inventory.DestroyRequest) []inventory.DestroyOutcome {
	out := make([]inventory.DestroyOutcome, len(r.Objects))
	days := int32(r.PendingWindow / (24 * time.Hour))
	days = max(int32(MinPendingWindow/(24*time.Hour)), min(days, int32(MaxPendingWindow/(24*time.Hour))))
	for i, k := range r.Objects {
		o := inventory.DestroyOutcome{Ref: k.Ref, Outcome: inventory.DestroyFailed}
		switch {
		case s.closed.Load():
			o.Message = ErrClosed.Error()
		case k.Owner == "aws":
			o.Message = fmt.Sprintf("awskms: %s is an AWS managed key: AWS alone deletes it", k.ID)
		case ctx.Err() != nil:
			o.Message = fmt.Sprintf("not scheduled: %v", ctx.Err())
		default:
			o = s.schedule(ctx, k, days)
		}
		out[i] = o
	}
	return out
}

func (s *Source) schedule(ctx context.Context, k inventory.Key, days int32) inventory.DestroyOutcome {
	o := inventory.DestroyOutcome{Ref: k.Ref, Outcome: inventory.DestroyFailed}
	resp, err := s.client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k.ID), PendingWindowInDays: aws.Int32(days)})
	var notFound *types.NotFoundException
	var invalid *types.KMSInvalidStateException
	switch {
	case err == nil:
		o.Outcome, o.DeletionDate = inventory.DestroyScheduled, resp.DeletionDate
		o.Message = fmt.Sprintf("deletion scheduled after a %d-day waiting period", days)
	case errors.As(err, &notFound):
		o.Outcome, o.Message = inventory.DestroyAlreadyGone, fmt.Sprintf("%s no longer holds key %s", s.Name(), k.ID)
	case errors.As(err, &invalid):
		// Already pending deletion (a second run of the same plan) is
		// the outcome asked for; any other state is a failure.
		d, derr := s.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k.ID)})
		if derr == nil && d.KeyMetadata != nil && d.KeyMetadata.KeyState == types.KeyStatePendingDeletion {
			o.Outcome, o.DeletionDate = inventory.DestroyScheduled, d.KeyMetadata.DeletionDate
			o.Message = "deletion was already scheduled"
			return o
		}
		o.Message = fmt.Sprintf("awskms: ScheduleKeyDeletion %s: %v", k.ID, err)
	default:
		o.Message = fmt.Sprintf("awskms: ScheduleKeyDeletion %s: %v", k.ID, err)
	}
	return o
}
