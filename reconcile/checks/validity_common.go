package checks

import (
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// validityFindings calls fn for every endpoint served now that has a
// validity result for its current leaf, and collects what fn returns.
func validityFindings(s *reconcile.Snapshot, fn func(o *records.Observation, v *records.Validity) *reconcile.Finding) []reconcile.Finding {
	if len(s.Validity) == 0 {
		return nil
	}
	var out []reconcile.Finding
	for i := range s.Observations {
		o := &s.Observations[i]
		v, ok := s.ValidityOf(o)
		if !ok || v.Error != "" {
			continue
		}
		if f := fn(o, v); f != nil {
			l := o.Leaf()
			f.Subject, f.SPKISHA256, f.CertSHA256, f.Endpoint = l.Subject, l.SPKISHA256, l.SHA256, reconcile.EndpointName(o)
			out = append(out, *f)
		}
	}
	return out
}
