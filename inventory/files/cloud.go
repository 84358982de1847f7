package files

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/inventory"
)

// awsPublicKey is the output of `aws kms get-public-key`.
type awsPublicKey struct {
	KeyId                  string
	PublicKey              string // base64 DER SubjectPublicKeyInfo
	KeySpec                string
	CustomerMasterKeySpec  string
	KeyUsage               string // SIGN_VERIFY, ENCRYPT_DECRYPT, KEY_AGREEMENT
	SigningAlgorithms      []string
	EncryptionAlgorithms   []string
	KeyAgreementAlgorithms []string
}

// ParseAWS reads `aws kms get-public-key --output json`.
func ParseAWS(data []byte) ([]inventory.Key, error) {
	var a awsPublicKey
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("files: AWS KMS: %w", err)
	}
	if a.KeyId == "" || a.PublicKey == "" {
		return nil, errors.New("files: AWS KMS: KeyId or PublicKey missing")
	}
	der, err := base64.StdEncoding.DecodeString(a.PublicKey)
	if err != nil {
		return nil, errors.New("files: AWS KMS: PublicKey is not base64")
	}
	spec := a.KeySpec
	if spec == "" {
		spec = a.CustomerMasterKeySpec
	}
	k, err := spkiKey(der)
	if err != nil {
		// SM2 and future specs Go cannot parse: the fingerprint still holds.
		k = inventory.Key{Class: inventory.ClassPublicKey, KeyType: spec, Usage: []string{},
			SPKISHA256: inventory.SHA256Hex(der), SPKISource: inventory.SPKIFromObject}
		k.AddNote("public key not parsed: %v", err)
	}
	k.Source = "aws-kms"
	k.URI = a.KeyId
	// arn:aws:kms:REGION:ACCOUNT:key/ID (or alias/NAME)
	k.Label, k.ID = a.KeyId, a.KeyId
	if parts := strings.SplitN(a.KeyId, ":", 6); len(parts) == 6 && parts[0] == "arn" {
		k.Token = parts[3] + "/" + parts[4]
		res := parts[5]
		k.ID = res[strings.LastIndexByte(res, '/')+1:]
		k.Label = k.ID
	}
	switch a.KeyUsage {
	case "SIGN_VERIFY":
		k.SetUsage(map[string]bool{inventory.UsageSign: true, inventory.UsageVerify: true})
	case "ENCRYPT_DECRYPT":
		k.SetUsage(map[string]bool{inventory.UsageEncrypt: true, inventory.UsageDecrypt: true})
	case "KEY_AGREEMENT":
		k.SetUsage(map[string]bool{inventory.UsageDerive: true})
	}
	k.AddNote("private half held in AWS KMS (key spec %s)", spec)
	return []inventory.Key{k}, nil
}

// azureKey is the output of `az keyvault key show`.
type azureKey struct {
	Key struct {
		Kid    string   `json:"kid"`
		Kty    string   `json:"kty"`
		KeyOps []string `json:"keyOps"`
		N      string   `json:"n"`
		E      string   `json:"e"`
		Crv    string   `json:"crv"`
		X      string   `json:"x"`
		Y      string   `json:"y"`
	} `json:"key"`
	Attributes struct {
		Enabled    *bool  `json:"enabled"`
		Expires    string `json:"expires"`
		NotBefore  string `json:"notBefore"`
		Exportable *bool  `json:"exportable"`
	} `json:"attributes"`
	Managed *bool             `json:"managed"`
	Tags    map[string]string `json:"tags"`
}

// ParseAzure reads `az keyvault key show --output json`. Tags named
// owner, purpose and cryptoperiod (any case) fill those fields.
func ParseAzure(data []byte) ([]inventory.Key, error) {
	var a azureKey
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("files: Azure Key Vault: %w", err)
	}
	if a.Key.Kty == "" || a.Key.Kid == "" {
		return nil, errors.New("files: Azure Key Vault: key.kid or key.kty missing")
	}
	k, err := jwkKey(a.Key.Kty, a.Key.N, a.Key.E, a.Key.Crv, a.Key.X, a.Key.Y, false)
	if err != nil {
		return nil, fmt.Errorf("files: Azure Key Vault key %s: %w", a.Key.Kid, err)
	}
	k.Source = "azure-key-vault"
	k.URI = a.Key.Kid
	k.Label = a.Key.Kid
	// https://VAULT.vault.azure.net/keys/NAME/VERSION
	if rest, ok := strings.CutPrefix(a.Key.Kid, "https://"); ok {
		host, p, _ := strings.Cut(rest, "/")
		k.Token = strings.SplitN(host, ".", 2)[0]
		if parts := strings.Split(p, "/"); len(parts) >= 2 && parts[0] == "keys" {
			k.Label = parts[1]
			if len(parts) >= 3 {
				k.ID = parts[2]
			}
		}
	}
	usage := map[string]bool{}
	for _, op := range a.Key.KeyOps {
		if u, ok := jwkOps[op]; ok {
			usage[u] = true
		}
	}
	k.SetUsage(usage)
	k.Extractable = a.Attributes.Exportable
	if strings.HasSuffix(a.Key.Kty, "-HSM") {
		k.AddNote("HSM-protected key in Azure Key Vault")
	} else if k.Class != inventory.ClassSecretKey {
		k.AddNote("private half held in Azure Key Vault")
	}
	if a.Attributes.Enabled != nil && !*a.Attributes.Enabled {
		k.AddNote("disabled in Key Vault")
	}
	k.StartDate = azureTime(a.Attributes.NotBefore)
	k.EndDate = azureTime(a.Attributes.Expires)
	for name, v := range a.Tags {
		switch strings.ToLower(name) {
		case "owner":
			k.Owner = v
		case "purpose":
			k.Purpose = v
		case "cryptoperiod":
			if _, err := inventory.ParsePeriod(v); err == nil {
				k.Cryptoperiod = v
			}
		}
	}
	return []inventory.Key{k}, nil
}

// azureTime parses the CLI's ISO 8601 times ("2027-01-01T00:00:00+00:00")
// and the REST API's Unix seconds.
func azureTime(s string) *time.Time {
	if s == "" {
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		t := time.Unix(n, 0).UTC()
		return &t
	}
	return nil
}

// gcpPublicKey is `gcloud kms keys versions get-public-key --format=json`
// (the KMS PublicKey resource).
type gcpPublicKey struct {
	Name            string          `json:"name"`
	Pem             string          `json:"pem"`
	PemCrc32c       json.RawMessage `json:"pemCrc32c"` // an int64: a string in JSON, a number from some tools
	Algorithm       string          `json:"algorithm"`
	ProtectionLevel string          `json:"protectionLevel"`
}

// ParseGCP reads a GCP KMS public key in gcloud's JSON form; the plain PEM
// form is read by ParsePEM. The PEM's CRC32C, when given, is checked.
func ParseGCP(data []byte) ([]inventory.Key, error) {
	var g gcpPublicKey
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, fmt.Errorf("files: GCP KMS: %w", err)
	}
	if c := strings.Trim(string(g.PemCrc32c), `"`); c != "" && c != "null" {
		want, err := strconv.ParseUint(c, 10, 32)
		got := crc32.Checksum([]byte(g.Pem), crc32.MakeTable(crc32.Castagnoli))
		if err != nil || uint32(want) != got {
			return nil, errors.New("files: GCP KMS: pemCrc32c does not match the PEM (corrupted export?)")
		}
	}
	b, _ := pem.Decode([]byte(g.Pem))
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New("files: GCP KMS: pem holds no PUBLIC KEY")
	}
	k, err := spkiKey(b.Bytes)
	if err != nil {
		if _, perr := x509.ParsePKIXPublicKey(b.Bytes); perr != nil {
			return nil, fmt.Errorf("files: GCP KMS: %w", err)
		}
	}
	k.Source = "gcp-kms"
	k.URI = g.Name
	k.Label = g.Name
	// projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V
	if parts := strings.Split(g.Name, "/"); len(parts) == 10 && parts[6] == "cryptoKeys" {
		k.Token = strings.Join(parts[:6], "/")
		k.Label, k.ID = parts[7], parts[9]
	}
	switch {
	case strings.Contains(g.Algorithm, "_SIGN_"):
		k.SetUsage(map[string]bool{inventory.UsageSign: true, inventory.UsageVerify: true})
	case strings.Contains(g.Algorithm, "_DECRYPT_"):
		k.SetUsage(map[string]bool{inventory.UsageEncrypt: true, inventory.UsageDecrypt: true})
	}
	level := g.ProtectionLevel
	if level == "" {
		level = "unknown"
	}
	k.AddNote("private half held in GCP KMS (%s, protection level %s)", g.Algorithm, level)
	return []inventory.Key{k}, nil
}
