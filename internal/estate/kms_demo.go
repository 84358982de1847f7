package estate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/ovh/kmip-go"
	"github.com/ovh/kmip-go/kmipclient"
)

// Demo key managers: a KMIP server and an AWS KMS emulator, each holding
// keys that show what keyaudit finds there.
const (
	DemoKMIPAddr     = "127.0.2.70:5696"
	DemoLocalKMSAddr = "127.0.2.71:4599"
	// DemoAWSRegion is the emulator's region (local-kms serves one region
	// per process; keyaudit's tests use the same).
	DemoAWSRegion = "eu-west-2"
	// DemoAWSKeyID and DemoAWSSecret are the emulator's dummy
	// credentials (local-kms checks no signature); the demo script
	// exports them, as AWS's standard chain reads them.
	DemoAWSKeyID  = "AKIAKEYAUDITDEMO"
	DemoAWSSecret = "demo-not-a-secret"
)

// KeyManagers are the demo's KMIP server and AWS KMS emulator.
type KeyManagers struct {
	KMIP *KMIPServer
	KMS  *LocalKMS
}

// Close stops both.
func (k *KeyManagers) Close() {
	if k.KMIP != nil {
		k.KMIP.Stop()
	}
	if k.KMS != nil {
		k.KMS.Close()
	}
}

// StartKeyManagers starts PyKMIP on kmipAddr and local-kms on kmsAddr
// (loopback host:ports; the demo's are DemoKMIPAddr and
// DemoLocalKMSAddr) and fills
// them: in KMIP an RSA key pair nobody uses (registered a year ago by
// name, with a link-less public key paired by name), an EC pair the
// server marks compromised, and an AES key; in AWS KMS an ECDSA signing
// key with an owner, and a symmetric key without rotation or owner.
func StartKeyManagers(ctx context.Context, dir, kmipAddr, kmsAddr string) (*KeyManagers, error) {
	km := &KeyManagers{}
	var err error
	if km.KMIP, err = StartPyKMIP(ctx, filepath.Join(dir, "kmip"), kmipAddr); err != nil {
		return nil, err
	}
	if err := fillKMIP(ctx, km.KMIP); err != nil {
		km.Close()
		return nil, fmt.Errorf("estate: KMIP: %w", err)
	}
	if km.KMS, err = StartLocalKMS(filepath.Join(dir, "local-kms"), kmsAddr, DemoAWSRegion); err != nil {
		km.Close()
		return nil, err
	}
	if err := fillKMS(ctx, km.KMS); err != nil {
		km.Close()
		return nil, fmt.Errorf("estate: local-kms: %w", err)
	}
	return km, nil
}

func fillKMIP(ctx context.Context, s *KMIPServer) error {
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := kmipclient.DialContext(ctx, s.Addr, kmipclient.WithClientCertFiles(s.ClientCert, s.ClientKey),
		kmipclient.WithRootCAFile(s.CAFile), kmipclient.WithServerName(host))
	if err != nil {
		return err
	}
	defer c.Close()
	usage := kmip.CryptographicUsageSign | kmip.CryptographicUsageVerify
	reg := func(name string, ex kmipclient.ExecRegister) (string, error) {
		r, err := ex.WithName(name).ExecContext(ctx)
		if err != nil {
			return "", fmt.Errorf("register %s: %w", name, err)
		}
		return r.UniqueIdentifier, nil
	}
	old, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	oldSPKI, _ := x509.MarshalPKIXPublicKey(&old.PublicKey)
	for name, ex := range map[string]kmipclient.ExecRegister{
		"payments-2024-private": c.Register().Pkcs1PrivateKey(x509.MarshalPKCS1PrivateKey(old), usage),
		"payments-2024-public":  c.Register().X509PublicKey(oldSPKI, usage),
	} {
		id, err := reg(name, ex)
		if err != nil {
			return err
		}
		if _, err := c.Activate(id).ExecContext(ctx); err != nil {
			return fmt.Errorf("activate %s: %w", name, err)
		}
	}
	burnt, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	burntSPKI, _ := x509.MarshalPKIXPublicKey(&burnt.PublicKey)
	burntPriv, _ := x509.MarshalPKCS8PrivateKey(burnt)
	for name, obj := range map[string]kmip.Object{
		"sso-2025-private": rawKMIPKey(true, burntPriv),
		"sso-2025-public":  rawKMIPKey(false, burntSPKI),
	} {
		id, err := reg(name, c.Register().Object(obj).WithAttribute(kmip.AttributeNameCryptographicUsageMask, usage))
		if err != nil {
			return err
		}
		if _, err := c.Revoke(id).WithRevocationReasonCode(kmip.RevocationReasonCodeKeyCompromise).WithCompromiseOccurrenceDate(time.Now()).ExecContext(ctx); err != nil {
			return fmt.Errorf("revoke %s: %w", name, err)
		}
	}
	aes := make([]byte, 32)
	rand.Read(aes)
	_, err = reg("backup-kek", c.Register().SymmetricKey(kmip.CryptographicAlgorithmAES, kmip.CryptographicUsageWrapKey|kmip.CryptographicUsageUnwrapKey, aes))
	return err
}

// rawKMIPKey is an EC key object holding DER (PyKMIP keeps EC keys only
// as PKCS#8 and X.509 bytes).
func rawKMIPKey(private bool, der []byte) kmip.Object {
	format := kmip.KeyFormatTypeX_509
	if private {
		format = kmip.KeyFormatTypePKCS_8
	}
	kb := kmip.KeyBlock{CryptographicAlgorithm: kmip.CryptographicAlgorithmECDSA, KeyFormatType: format, CryptographicLength: 256,
		KeyValue: &kmip.KeyValue{Plain: &kmip.PlainKeyValue{KeyMaterial: kmip.KeyMaterial{Bytes: &der}}}}
	if private {
		return &kmip.PrivateKey{KeyBlock: kb}
	}
	return &kmip.PublicKey{KeyBlock: kb}
}

func fillKMS(ctx context.Context, l *LocalKMS) error {
	c := kms.New(kms.Options{Region: l.Region, BaseEndpoint: aws.String(l.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(DemoAWSKeyID, DemoAWSSecret, ""),
		HTTPClient:  &http.Client{Timeout: 10 * time.Second}})
	if _, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify,
		Description: aws.String("release signing"), Tags: []types.Tag{{TagKey: aws.String("owner"), TagValue: aws.String("release-team")}}}); err != nil {
		return err
	}
	_, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("data at rest")})
	return err
}
