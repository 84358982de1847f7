package plan

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/inventory/awskms"
	"github.com/keyaudit/keyaudit/inventory/kmip"
)

// Section is the structured part of the config file's inventory: section
// (its other keys — pkcs11, path, format … — are the command's flags).
type Section struct {
	Sources  []SourceConfig  `yaml:"sources"`
	Metadata inventory.Rules `yaml:"metadata"`
}

// SourceConfig is one entry of inventory.sources: a PKCS#11 URI or file
// paths, with defaults for the keys it lists.
type SourceConfig struct {
	PKCS11 string   `yaml:"pkcs11"` // RFC 7512 URI
	Module string   `yaml:"module"` // library when the URI names none
	Path   string   `yaml:"path"`   // a file or directory
	Paths  []string `yaml:"paths"`
	// Kind labels PEM/DER keys of these paths (e.g. gcp-kms).
	Kind string `yaml:"kind"`
	// PKCS#12 password: read from a file or an environment variable;
	// neither means Config.PasswordFile or $KEYAUDIT_PKCS12_PASSWORD.
	PasswordFile string `yaml:"password-file"`
	PasswordEnv  string `yaml:"password-env"`
	// KMIP is a key manager, kmip://host[:port], read with the client
	// certificate and key in CertFile and KeyFile (a key file others
	// may read is warned about), the server checked against CAFile.
	// Names pairs private keys by name where the server keeps no Link
	// (default kmip.DefaultNames).
	KMIP     string        `yaml:"kmip"`
	CertFile string        `yaml:"cert-file"`
	KeyFile  string        `yaml:"key-file"`
	CAFile   string        `yaml:"ca-file"`
	Names    kmip.NameRule `yaml:"name-rule"`
	// AWSKMS is an AWS KMS region, awskms://REGION, read with the
	// credentials of the standard AWS chain; Endpoint overrides its KMS
	// endpoint (an emulator, a VPC endpoint).
	AWSKMS   string `yaml:"awskms"`
	Endpoint string `yaml:"endpoint"`
	// Defaults for every key of the source (owner, purpose,
	// cryptoperiod); metadata rules override them.
	inventory.Defaults `yaml:",inline"`
}

// sourceKeys and metadataKeys are the keys an entry of inventory.sources
// and of inventory.metadata may hold.
var (
	sourceKeys = map[string]bool{"pkcs11": true, "module": true, "path": true, "paths": true, "kind": true,
		"password-file": true, "password-env": true,
		"kmip": true, "cert-file": true, "key-file": true, "ca-file": true, "name-rule": true, "awskms": true, "endpoint": true, "owner": true, "purpose": true, "cryptoperiod": true}
	metadataKeys = map[string]bool{"uri": true, "label": true, "path": true, "owner": true, "purpose": true, "cryptoperiod": true}
)

// DecodeSection decodes the config file's inventory: section node,
// refusing unknown keys in the entries of sources and metadata (a typo
// must not silently drop a source). Its errors start with "inventory".
func DecodeSection(node *yaml.Node) (Section, error) {
	var sec Section
	var raw struct {
		Sources  []map[string]yaml.Node `yaml:"sources"`
		Metadata []map[string]yaml.Node `yaml:"metadata"`
	}
	if err := node.Decode(&raw); err != nil {
		return sec, fmt.Errorf("inventory: %w", err)
	}
	for _, list := range []struct {
		name    string
		entries []map[string]yaml.Node
		known   map[string]bool
	}{{"sources", raw.Sources, sourceKeys}, {"metadata", raw.Metadata, metadataKeys}} {
		for i, m := range list.entries {
			for k := range m {
				if !list.known[k] {
					return sec, fmt.Errorf("inventory.%s[%d]: unknown key %q", list.name, i, k)
				}
			}
		}
	}
	if err := node.Decode(&sec); err != nil {
		return sec, fmt.Errorf("inventory: %w", err)
	}
	return sec, nil
}

// paths are the files and directories of a file source: Path, then Paths.
func (sc SourceConfig) paths() []string {
	if sc.Path != "" {
		return append([]string{sc.Path}, sc.Paths...)
	}
	return sc.Paths
}

// check refuses an entry naming both or neither of a token and files, or
// carrying a bad cryptoperiod.
func (sc SourceConfig) check() error {
	if sc.Cryptoperiod != "" {
		if _, err := inventory.ParsePeriod(sc.Cryptoperiod); err != nil {
			return err
		}
	}
	if sc.AWSKMS != "" {
		if sc.PKCS11 != "" || len(sc.paths()) > 0 || sc.KMIP != "" {
			return errors.New("give one of pkcs11, path, kmip or awskms")
		}
		_, err := awskms.ParseURI(sc.AWSKMS)
		return err
	}
	if sc.KMIP != "" {
		if sc.PKCS11 != "" || len(sc.paths()) > 0 {
			return errors.New("give one of pkcs11, path or kmip")
		}
		return sc.kmipConfig().Check()
	}
	switch files := len(sc.paths()) > 0; {
	case sc.PKCS11 != "" && files:
		return errors.New("give pkcs11 or path, not both")
	case sc.PKCS11 == "" && !files:
		return errors.New("needs pkcs11, path or kmip")
	}
	return nil
}

// password is the PKCS#12 password of a file source: its password-file,
// else its password-env, else def.
func (sc SourceConfig) password(def string, getenv func(string) string, secrets secretfile.Policy) (string, error) {
	switch {
	case sc.PasswordFile != "":
		pw, err := readSecretFile(sc.PasswordFile, secrets)
		if err != nil {
			return "", fmt.Errorf("inventory source password-file: %w", err)
		}
		return pw, nil
	case sc.PasswordEnv != "":
		return getenv(sc.PasswordEnv), nil
	}
	return def, nil
}

// kmipConfig is the kmip.Config of a KMIP entry.
func (sc SourceConfig) kmipConfig() kmip.Config {
	return kmip.Config{URI: sc.KMIP, CertFile: sc.CertFile, KeyFile: sc.KeyFile, CAFile: sc.CAFile, Names: sc.Names}
}
