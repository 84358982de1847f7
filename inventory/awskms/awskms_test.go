package awskms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/inventory/sourcetest"
	"github.com/keyaudit/keyaudit/reconcile"
	_ "github.com/keyaudit/keyaudit/reconcile/checks"
	"github.com/keyaudit/keyaudit/store/records"
)

const region = "eu-west-2"

// dummyChain makes the standard AWS chain find dummy credentials in the
// environment, and nothing of the machine's: no profile, no web identity,
// no instance metadata.
func dummyChain(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIAKEYAUDITTEST", "AWS_SECRET_ACCESS_KEY": "dummy-secret", "AWS_SESSION_TOKEN": "",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"), "AWS_PROFILE": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_KMS": "",
		"AWS_CA_BUNDLE": "",
	} {
		t.Setenv(k, v)
	}
}

// loopbackClient refuses to dial anything but loopback, so a request the
// endpoint override missed fails instead of leaving the machine.
func loopbackClient() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if !testlab.IsLoopback(addr) {
				return nil, fmt.Errorf("test: refusing to dial %s: not loopback", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// counter counts the KMS operations sent through it, by X-Amz-Target.
type counter struct {
	next http.RoundTripper
	mu   sync.Mutex
	ops  map[string]int
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.ops[strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// admin is the test's own KMS client, which creates the keys.
func admin(t *testing.T, lk *testlab.LocalKMS) *kms.Client {
	return kms.New(kms.Options{Region: region, BaseEndpoint: aws.String(lk.Endpoint), HTTPClient: loopbackClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAKEYAUDITTEST", "dummy-secret", "")})
}

type made struct {
	id   string
	spki string // sha256 of GetPublicKey's DER, asymmetric keys
}

func create(t *testing.T, ctx context.Context, c *kms.Client, in *kms.CreateKeyInput) made {
	t.Helper()
	out, err := c.CreateKey(ctx, in)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	m := made{id: *out.KeyMetadata.KeyId}
	if in.KeySpec != "" && in.KeySpec != types.KeySpecSymmetricDefault && !strings.HasPrefix(string(in.KeySpec), "HMAC_") {
		pk, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: out.KeyMetadata.KeyId})
		if err != nil {
			t.Fatalf("GetPublicKey: %v", err)
		}
		sum := sha256.Sum256(pk.PublicKey)
		m.spki = hex.EncodeToString(sum[:])
	}
	return m
}

func tags(kv ...string) []types.Tag {
	var out []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, types.Tag{TagKey: aws.String(kv[i]), TagValue: aws.String(kv[i+1])})
	}
	return out
}

// TestLocalKMSInventoryAndFindings creates keys through the KMS API
// (symmetric with and without rotation, RSA and EC keys, tagged and
// untagged, one scheduled for deletion), lists them, and runs the KMS
// checks on the result.
func TestLocalKMSInventoryAndFindings(t *testing.T) {
	dummyChain(t)
	lk := testlab.StartLocalKMS(t, region)
	ctx := context.Background()
	c := admin(t, lk)

	rotated := create(t, ctx, c, &kms.CreateKeyInput{Description: aws.String("rotated"), Tags: tags("owner", "team-data", "purpose", "backups")})
	if _, err := c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(rotated.id)}); err != nil {
		t.Fatalf("EnableKeyRotation: %v", err)
	}
	static := create(t, ctx, c, &kms.CreateKeyInput{Description: aws.String("static")}) // no tags, no rotation
	rsaKey := create(t, ctx, c, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify, Tags: tags("Owner", "team-web")})
	ecKey := create(t, ctx, c, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify, Tags: tags("owner", "team-web")})

	hc := loopbackClient()
	ops := &counter{next: hc.Transport, ops: map[string]int{}}
	hc.Transport = ops
	src, err := Open(ctx, Config{Region: region, Endpoint: lk.Endpoint, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	list := func() ([]inventory.Key, inventory.Result) {
		var keys []inventory.Key
		res := src.Keys(ctx, func(k inventory.Key) error { keys = append(keys, k); return nil })
		return keys, res
	}
	before, res := list()
	if res.Status != inventory.StatusComplete || res.Keys != 4 || len(res.Warnings) != 0 {
		t.Fatalf("result %+v", res)
	}

	if _, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(ecKey.id), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatalf("ScheduleKeyDeletion: %v", err)
	}
	// Pages of one key: ListKeys is followed through its markers.
	src.pageSize = 1
	ops.ops = map[string]int{}
	keys, res := list()
	if ops.ops["ListKeys"] < 4 || ops.ops["DescribeKey"] != 4 || ops.ops["GetKeyRotationStatus"] != 2 || ops.ops["GetPublicKey"] != 2 {
		t.Errorf("operations %v: want ListKeys paged, 4 DescribeKey, rotation of the 2 symmetric keys, 2 GetPublicKey", ops.ops)
	}
	// Like AWS, local-kms refuses GetPublicKey for a key pending
	// deletion: expected, a note on the key, not a warning.
	if res.Status != inventory.StatusComplete || res.Keys != 4 || len(res.Warnings) != 0 {
		t.Fatalf("result %+v", res)
	}
	for i := range keys {
		if keys[i].Ref != before[i].Ref {
			t.Errorf("ref changed with the key's state: %s → %s", before[i].Ref, keys[i].Ref)
		}
	}
	byID := map[string]inventory.Key{}
	for _, k := range keys {
		byID[k.ID] = k
		if k.Source != SourceKind || k.Token != region+"/"+testlab.LocalKMSAccount || !strings.HasPrefix(k.URI, "arn:aws:kms:"+region+":") || k.StartDate == nil || k.Ref == "" {
			t.Errorf("key %+v", k)
		}
	}
	want := []struct {
		m        made
		class    inventory.Class
		typ      string
		bits     int
		state    string
		rotation string // true, false, nil
		owner    string
	}{
		{rotated, inventory.ClassSecretKey, "AES", 256, "enabled", "true", "team-data"},
		{static, inventory.ClassSecretKey, "AES", 256, "enabled", "false", ""},
		{rsaKey, inventory.ClassPrivateKey, "RSA", 2048, "enabled", "nil", "team-web"},
		{made{id: ecKey.id}, inventory.ClassPrivateKey, "EC", 256, "pending_deletion", "nil", "team-web"},
	}
	for _, k := range before {
		if k.ID == ecKey.id && (k.SPKISHA256 != ecKey.spki || k.State != "enabled" || k.SPKISource != inventory.SPKIFromKeyInfo) {
			t.Errorf("EC key before its deletion was scheduled: spki %q state %q", k.SPKISHA256, k.State)
		}
	}
	for _, w := range want {
		k, ok := byID[w.m.id]
		if !ok {
			t.Errorf("key %s not listed", w.m.id)
			continue
		}
		rot := "nil"
		if k.Rotation != nil {
			rot = fmt.Sprint(*k.Rotation)
		}
		if k.Class != w.class || k.KeyType != w.typ || k.KeyBits != w.bits || k.State != w.state || rot != w.rotation || k.Owner != w.owner || k.SPKISHA256 != w.m.spki {
			t.Errorf("key %s: class %s type %s bits %d state %q rotation %s owner %q spki %q; want %+v",
				w.m.id, k.Class, k.KeyType, k.KeyBits, k.State, rot, k.Owner, k.SPKISHA256, w)
		}
	}
	if k := byID[rotated.id]; k.Purpose != "backups" || k.Tags["owner"] != "team-data" {
		t.Errorf("tags of the rotated key: purpose %q tags %v", k.Purpose, k.Tags)
	}
	if k := byID[static.id]; k.Tags != nil {
		t.Errorf("untagged key has tags %v", k.Tags)
	}
	if k := byID[ecKey.id]; len(k.Notes) == 0 || !strings.Contains(k.Notes[len(k.Notes)-1], "not readable while pending_deletion") {
		t.Errorf("pending key notes %q", k.Notes)
	}
	if k := byID[ecKey.id]; k.DeletionDate == nil || k.DeletionDate.Before(time.Now().Add(6*24*time.Hour)) || k.Curve != "P-256" {
		t.Errorf("pending key: deletion %v curve %q", k.DeletionDate, k.Curve)
	}

	// The EC key pending deletion is still served; the RSA key is not.
	// The estate gives the pending key the fingerprint of the earlier
	// read (stage's earlierSPKI); done by hand here.
	recs := make([]records.Key, len(keys))
	copy(recs, keys)
	for i := range recs {
		if recs[i].ID == ecKey.id {
			recs[i].SPKISHA256 = ecKey.spki
		}
	}
	snap := reconcile.Snapshot{Now: time.Now(), Keys: recs, Observations: []records.Observation{{
		Target: "a.example.com:443", Host: "a.example.com", IP: "127.0.0.1", Port: 443, Protocol: "tls",
		Chain: []certinfo.Cert{{SHA256: "c-a", SPKISHA256: ecKey.spki, Subject: "CN=a.example.com", SANs: []string{"a.example.com"}, KeyType: "ECDSA", KeyBits: 256, Curve: "P-256"}},
	}}}
	got := map[string][]string{}
	for _, f := range reconcile.Run(&snap, reconcile.Options{Checks: []string{"kms-key-rotation-disabled", "kms-key-pending-deletion-in-use", "kms-key-no-owner", "unmanaged-key"}}).Findings {
		got[f.Check] = append(got[f.Check], f.Subject)
	}
	name := func(m made) string { k := byID[m.id]; return k.Name() }
	for check, subjects := range map[string][]string{
		"kms-key-rotation-disabled":       {name(static)},
		"kms-key-pending-deletion-in-use": {name(ecKey)},
		"kms-key-no-owner":                {name(static)},
		"unmanaged-key":                   nil,
	} {
		if fmt.Sprint(got[check]) != fmt.Sprint(subjects) {
			t.Errorf("%s: findings on %v, want %v", check, got[check], subjects)
		}
	}
}

// TestOpenNeedsCredentials: with no credentials in the chain, Open fails
// as bad input before any request.
func TestOpenNeedsCredentials(t *testing.T) {
	dummyChain(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, err := Open(context.Background(), Config{Region: region, Endpoint: "http://127.0.0.1:1", HTTPClient: loopbackClient()})
	if !errors.Is(err, inventory.ErrInput) {
		t.Fatalf("err %v, want bad input", err)
	}
}

func TestParseURI(t *testing.T) {
	for raw, want := range map[string]string{
		"awskms://eu-west-2":             "eu-west-2",
		"awskms://us-gov-west-1/":        "us-gov-west-1",
		"awskms://EU-WEST-2":             "",
		"awskms://AKIA:secret@eu-west-2": "",
		"awskms://eu-west-2?key=1":       "",
		"kmip://eu-west-2":               "",
	} {
		got, err := ParseURI(raw)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("%s: %q, %v; want %q", raw, got, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error shows the password: %v", raw, err)
		}
	}
}

// TestSourceContract runs the suite every inventory.Source passes over a
// region holding a symmetric, an HMAC, an RSA and an EC key.
func TestSourceContract(t *testing.T) {
	dummyChain(t)
	lk := testlab.StartLocalKMS(t, region)
	ctx := context.Background()
	c := admin(t, lk)
	create(t, ctx, c, &kms.CreateKeyInput{Tags: tags("owner", "team-a")})
	create(t, ctx, c, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	create(t, ctx, c, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa3072, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	create(t, ctx, c, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP384, KeyUsage: types.KeyUsageTypeSignVerify})
	sourcetest.Run(t, func(t *testing.T) inventory.Source {
		s, err := Open(ctx, Config{Region: region, Endpoint: lk.Endpoint, HTTPClient: loopbackClient()})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}, sourcetest.Options{MinKeys: 4, Secrets: []string{"dummy-secret"}})
}

// FuzzParseURI: a config value never panics the parser, and a region it
// accepts is the URI's host, alone.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"awskms://eu-west-2", "awskms://us-gov-west-1/", "awskms://a:b@eu-west-2", "awskms://eu-west-2?x=1", "awskms://%zz", "kmip://h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		region, err := ParseURI(raw)
		if err == nil && (raw != "awskms://"+region && raw != "awskms://"+region+"/") {
			t.Errorf("%q accepted as region %q", raw, region)
		}
	})
}
