package files

import (
	"errors"
	"fmt"

	gopkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/keyaudit/keyaudit/inventory"
)

// ParsePKCS12 opens a PKCS#12 (.p12, .pfx) bundle: its private key, its
// certificate and the CA certificates with it, or the certificates of a
// Java-style trust store. A wrong password gives ErrPassword; the password
// never appears in an error.
func ParsePKCS12(data []byte, password string) ([]inventory.Key, error) {
	priv, leaf, cas, err := gopkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, gopkcs12.ErrIncorrectPassword) || errors.Is(err, gopkcs12.ErrDecryption) {
			return nil, ErrPassword
		}
		// No private key: perhaps a trust store.
		certs, terr := gopkcs12.DecodeTrustStore(data, password)
		if terr != nil {
			if errors.Is(terr, gopkcs12.ErrIncorrectPassword) || errors.Is(terr, gopkcs12.ErrDecryption) {
				return nil, ErrPassword
			}
			return nil, fmt.Errorf("files: PKCS#12: %w", err)
		}
		var keys []inventory.Key
		for i, c := range certs {
			if i == maxObjectsPerFile {
				return keys, ErrTooManyObjects
			}
			k, err := certKey(c.Raw)
			if err != nil {
				continue
			}
			k.Source = "pkcs12"
			k.AddNote("trusted certificate of a PKCS#12 trust store")
			keys = append(keys, k)
		}
		return keys, nil
	}
	var keys []inventory.Key
	pk, err := privKey(priv)
	if err != nil {
		return nil, err
	}
	if leaf != nil {
		// The key's label is its certificate's CN, so the two read as a pair.
		pk.Label = leaf.Subject.CommonName
		lk, err := certKey(leaf.Raw)
		if err != nil {
			return nil, err
		}
		lk.Source = "pkcs12"
		keys = append(keys, lk)
	}
	pk.Source = "pkcs12"
	keys = append([]inventory.Key{pk}, keys...)
	for _, c := range cas {
		if len(keys) == maxObjectsPerFile {
			return keys, ErrTooManyObjects
		}
		k, err := certKey(c.Raw)
		if err != nil {
			continue
		}
		k.Source = "pkcs12"
		k.AddNote("CA certificate bundled with the key")
		keys = append(keys, k)
	}
	return keys, nil
}
