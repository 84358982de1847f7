package files

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/keyaudit/keyaudit/inventory"
)

// jwk is one JSON Web Key (RFC 7517, RFC 7518 §6, RFC 8037). Private
// members other than "d" and "k" are not decoded at all, and those two
// only for presence.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	D      *string  `json:"d"` // presence only: a private JWK
	K      *string  `json:"k"` // presence and length only: a symmetric key
	X5c    []string `json:"x5c"`
}

// ParseJSON reads a JSON key file: a JWK set, one JWK, an AWS KMS
// get-public-key response, an Azure Key Vault key, or a GCP KMS public key
// in gcloud's JSON form.
func ParseJSON(data []byte) ([]inventory.Key, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		var arr []json.RawMessage
		if json.Unmarshal(data, &arr) == nil {
			return nil, ErrNotKeyMaterial
		}
		return nil, fmt.Errorf("%w: not JSON: %v", ErrNotKeyMaterial, err)
	}
	switch {
	case probe["keys"] != nil:
		return ParseJWKSet(data)
	case probe["KeyId"] != nil && probe["PublicKey"] != nil:
		return ParseAWS(data)
	case probe["key"] != nil && (probe["attributes"] != nil || probe["tags"] != nil):
		return ParseAzure(data)
	case probe["pem"] != nil && probe["name"] != nil:
		return ParseGCP(data)
	case probe["kty"] != nil:
		return ParseJWKSet(data)
	}
	return nil, ErrNotKeyMaterial
}

// ParseJWKSet reads a JWK set ({"keys": [...]}) or a single JWK.
func ParseJWKSet(data []byte) ([]inventory.Key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("files: JWK: %w", err)
	}
	raws := set.Keys
	if raws == nil {
		raws = []json.RawMessage{data}
	}
	var keys []inventory.Key
	var errs []error
	for i, raw := range raws {
		if i == maxObjectsPerFile {
			errs = append(errs, ErrTooManyObjects)
			break
		}
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			errs = append(errs, fmt.Errorf("JWK %d: %w", i+1, err))
			continue
		}
		ks, err := jwkKeys(j)
		if err != nil {
			errs = append(errs, fmt.Errorf("JWK %d (kid %q): %w", i+1, j.Kid, err))
			continue
		}
		keys = append(keys, ks...)
	}
	if len(keys) == 0 && len(errs) == 0 {
		return nil, ErrNotKeyMaterial
	}
	return keys, errors.Join(errs...)
}

// b64 decodes base64url (as JWK requires) and, leniently, standard base64
// (some tools print that).
func b64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("bad base64")
	}
	return b, nil
}

var jwkOps = map[string]string{
	"sign": inventory.UsageSign, "verify": inventory.UsageVerify,
	"encrypt": inventory.UsageEncrypt, "decrypt": inventory.UsageDecrypt,
	"wrapKey": inventory.UsageWrap, "unwrapKey": inventory.UsageUnwrap,
	"deriveKey": inventory.UsageDerive, "deriveBits": inventory.UsageDerive,
}

func jwkKeys(j jwk) ([]inventory.Key, error) {
	k, err := jwkKey(j.Kty, j.N, j.E, j.Crv, j.X, j.Y, j.D != nil)
	if err != nil {
		return nil, err
	}
	if j.Kty == "oct" {
		if j.K == nil {
			return nil, errors.New(`symmetric JWK without "k"`)
		}
		raw, err := b64(*j.K)
		if err != nil {
			return nil, fmt.Errorf("k: %w", err)
		}
		k.KeyBits = 8 * len(raw)
		clear(raw)
		switch {
		case strings.HasPrefix(j.Alg, "HS"):
			k.KeyType = "HMAC-SHA" + strings.TrimPrefix(j.Alg, "HS")
		case strings.HasPrefix(j.Alg, "A"):
			k.KeyType = "AES"
		}
	}
	k.Source = "jwk"
	k.Label, k.ID = j.Kid, j.Kid
	usage := map[string]bool{}
	for _, op := range j.KeyOps {
		if u, ok := jwkOps[op]; ok {
			usage[u] = true
		}
	}
	switch j.Use {
	case "sig":
		usage[inventory.UsageVerify] = true
		if k.Class != inventory.ClassPublicKey {
			usage[inventory.UsageSign] = true
		}
	case "enc":
		usage[inventory.UsageEncrypt] = true
		if k.Class != inventory.ClassPublicKey {
			usage[inventory.UsageDecrypt] = true
		}
	}
	k.SetUsage(usage)
	keys := []inventory.Key{k}
	if len(j.X5c) > 0 {
		der, err := base64.StdEncoding.DecodeString(j.X5c[0])
		if err == nil {
			if ck, err := certKey(der); err == nil {
				ck.Source = "jwk"
				ck.ID = j.Kid
				keys = append(keys, ck)
			}
		}
	}
	return keys, nil
}

// jwkKey builds the Key of a JWK-shaped public key (also used for Azure).
// kty is RSA, EC or OKP (and Azure's RSA-HSM, EC-HSM); oct gives a secret
// key without size.
func jwkKey(kty, n, e, crv, x, y string, private bool) (inventory.Key, error) {
	k := inventory.Key{Class: inventory.ClassPublicKey, Usage: []string{}}
	if private {
		k.Class = inventory.ClassPrivateKey
		k.Sensitive, k.Extractable = inventory.Bool(false), inventory.Bool(true)
		k.AddNote("private JWK stored in a file")
	}
	var der []byte
	switch strings.TrimSuffix(kty, "-HSM") {
	case "RSA":
		nb, err := b64(n)
		if err != nil {
			return k, fmt.Errorf("n: %w", err)
		}
		eb, err := b64(e)
		if err != nil {
			return k, fmt.Errorf("e: %w", err)
		}
		if der, err = inventory.RSASPKI(nb, eb); err != nil {
			return k, err
		}
		k.KeyType, k.KeyBits = "RSA", new(big.Int).SetBytes(nb).BitLen()
	case "EC", "OKP":
		c, ok := inventory.CurveByName(crv)
		if !ok {
			return k, fmt.Errorf("unknown curve %q", crv)
		}
		xb, err := b64(x)
		if err != nil {
			return k, fmt.Errorf("x: %w", err)
		}
		point := xb
		if strings.HasPrefix(kty, "EC") {
			yb, err := b64(y)
			if err != nil {
				return k, fmt.Errorf("y: %w", err)
			}
			size := (c.Bits + 7) / 8
			if len(xb) > size || len(yb) > size {
				return k, fmt.Errorf("coordinates longer than curve %s", c.Name)
			}
			point = make([]byte, 1+2*size)
			point[0] = 4
			copy(point[1+size-len(xb):], xb)
			copy(point[1+2*size-len(yb):], yb)
			if ec := nistECDH(c.Name); ec != nil {
				if _, err := ec.NewPublicKey(point); err != nil {
					return k, fmt.Errorf("point not on curve %s", c.Name)
				}
			}
			k.KeyType = "ECDSA"
		} else {
			k.KeyType = c.Name
		}
		if der, err = inventory.ECSPKI(c, point); err != nil {
			return k, err
		}
		k.Curve, k.KeyBits = c.Name, c.Bits
	case "oct":
		k.Class, k.KeyType = inventory.ClassSecretKey, "GENERIC"
		k.Notes = nil
		k.AddNote("symmetric key")
		return k, nil
	default:
		return k, fmt.Errorf("unsupported kty %q", kty)
	}
	k.SPKISHA256 = inventory.SHA256Hex(der)
	k.SPKISource = inventory.SPKIFromObject
	if private {
		k.SPKISource = inventory.SPKIFromPrivate
	}
	return k, nil
}

func nistECDH(name string) ecdh.Curve {
	switch name {
	case "P-256":
		return ecdh.P256()
	case "P-384":
		return ecdh.P384()
	case "P-521":
		return ecdh.P521()
	}
	return nil
}
