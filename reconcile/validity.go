package reconcile

import "github.com/keyaudit/keyaudit/store/records"

// ValidityOf returns the latest validity result of the endpoint o for the
// leaf it serves now: a result about a certificate the endpoint no longer
// serves is not returned.
func (s *Snapshot) ValidityOf(o *records.Observation) (*records.Validity, bool) {
	l := o.Leaf()
	if l == nil {
		return nil, false
	}
	v, ok := s.validityIndex()[records.ObservationKey(*o)+"|"+l.SHA256]
	return v, ok
}

func (s *Snapshot) validityIndex() map[string]*records.Validity {
	ix := s.index()
	if ix.validity == nil {
		ix.validity = make(map[string]*records.Validity, len(s.Validity))
		for i := range s.Validity {
			v := &s.Validity[i]
			ix.validity[v.Endpoint+"|"+v.CertSHA256] = v
		}
	}
	return ix.validity
}

// CTValidityOf returns the latest validity result of a certificate seen
// in CT (records.CTValidityKey), by its sha256.
func (s *Snapshot) CTValidityOf(certSHA256 string) (*records.Validity, bool) {
	v, ok := s.validityIndex()[records.CTValidityKey(certSHA256)+"|"+certSHA256]
	return v, ok
}
