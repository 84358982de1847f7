package records

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/keyaudit/keyaudit/store"
)

// Decode appends the items of kind in run, decoded as T, to into.
func Decode[T any](ctx context.Context, st store.Store, runID int64, kind string, into *[]T) error {
	return st.Items(ctx, runID, kind, func(it store.Item) error {
		var v T
		if err := json.Unmarshal(it.Data, &v); err != nil {
			return fmt.Errorf("run %d: %s %q: %w", runID, kind, it.Key, err)
		}
		*into = append(*into, v)
		return nil
	})
}
