package kmip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovh/kmip-go"
	"github.com/ovh/kmip-go/kmipclient"
	"github.com/ovh/kmip-go/payloads"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/inventory/sourcetest"
	"github.com/keyaudit/keyaudit/reconcile"
	_ "github.com/keyaudit/keyaudit/reconcile/checks"
	"github.com/keyaudit/keyaudit/store/records"
)

// recorder counts the operations a source sends and the identifiers it
// sends Get for.
type recorder struct {
	mu   sync.Mutex
	ops  map[kmip.Operation]int
	msgs map[kmip.Operation]int // request messages, by their first operation
	gets []string
}

func (r *recorder) middleware(next kmipclient.Next, ctx context.Context, msg *kmip.RequestMessage) (*kmip.ResponseMessage, error) {
	r.mu.Lock()
	r.msgs[msg.BatchItem[0].Operation]++
	for _, bi := range msg.BatchItem {
		r.ops[bi.Operation]++
		if g, ok := bi.RequestPayload.(*payloads.GetRequestPayload); ok {
			r.gets = append(r.gets, g.UniqueIdentifier)
		}
	}
	r.mu.Unlock()
	return next(ctx, msg)
}

func spkiHex(t *testing.T, pub any) (string, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), der
}

// populated is what populate registered, by name.
type populated struct {
	ids  map[string]string // name -> unique identifier
	spki map[string]string // stem -> spki sha256
}

// populate registers, as the test client, an RSA key pair with its
// certificate (names web-private, web-public, web-cert), an EC key pair
// (db-private, db-public), a lone RSA private key (orphan-private) and an
// AES key (backup-aes).
func populate(t *testing.T, lab *testlab.PyKMIP) populated {
	t.Helper()
	ctx := context.Background()
	c, err := kmipclient.DialContext(ctx, lab.Addr,
		kmipclient.WithClientCertFiles(lab.ClientCert, lab.ClientKey),
		kmipclient.WithRootCAFile(lab.CAFile), kmipclient.WithServerName("127.0.0.1"))
	if err != nil {
		t.Fatalf("dial %s: %v", lab.Addr, err)
	}
	defer c.Close()
	p := populated{ids: map[string]string{}, spki: map[string]string{}}
	reg := func(name string, ex kmipclient.ExecRegister) {
		t.Helper()
		resp, err := ex.WithName(name).ExecContext(ctx)
		if err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		p.ids[name] = resp.UniqueIdentifier
	}
	usage := kmip.CryptographicUsageSign | kmip.CryptographicUsageVerify

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var rsaSPKI []byte
	p.spki["web"], rsaSPKI = spkiHex(t, &rsaKey.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "web.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	reg("web-private", c.Register().Pkcs1PrivateKey(x509.MarshalPKCS1PrivateKey(rsaKey), usage))
	reg("web-public", c.Register().X509PublicKey(rsaSPKI, usage))
	reg("web-cert", c.Register().Certificate(kmip.CertificateTypeX_509, certDER))

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var ecSPKI []byte
	p.spki["db"], ecSPKI = spkiHex(t, &ecKey.PublicKey)
	ecPriv, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	reg("db-private", c.Register().Object(rawKey(true, ecPriv, kmip.CryptographicAlgorithmECDSA, 256, kmip.KeyFormatTypePKCS_8)).
		WithAttribute(kmip.AttributeNameCryptographicUsageMask, usage))
	reg("db-public", c.Register().Object(rawKey(false, ecSPKI, kmip.CryptographicAlgorithmECDSA, 256, kmip.KeyFormatTypeX_509)).
		WithAttribute(kmip.AttributeNameCryptographicUsageMask, usage))

	orphan, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	reg("orphan-private", c.Register().Pkcs1PrivateKey(x509.MarshalPKCS1PrivateKey(orphan), usage))

	aes := make([]byte, 32)
	rand.Read(aes)
	reg("backup-aes", c.Register().SymmetricKey(kmip.CryptographicAlgorithmAES,
		kmip.CryptographicUsageEncrypt|kmip.CryptographicUsageDecrypt, aes))
	return p
}

// rawKey is a key object holding der in format (PyKMIP keeps EC keys
// only as PKCS#8 and X.509 bytes).
func rawKey(private bool, der []byte, alg kmip.CryptographicAlgorithm, bits int32, format kmip.KeyFormatType) kmip.Object {
	kb := kmip.KeyBlock{CryptographicAlgorithm: alg, KeyFormatType: format, CryptographicLength: bits,
		KeyValue: &kmip.KeyValue{Plain: &kmip.PlainKeyValue{KeyMaterial: kmip.KeyMaterial{Bytes: &der}}}}
	if private {
		return &kmip.PrivateKey{KeyBlock: kb}
	}
	return &kmip.PublicKey{KeyBlock: kb}
}

func TestPyKMIPInventory(t *testing.T) {
	lab := testlab.StartPyKMIP(t)
	p := populate(t, lab)

	rec := &recorder{ops: map[kmip.Operation]int{}, msgs: map[kmip.Operation]int{}}
	src, err := Open(context.Background(), Config{
		URI: "kmip://" + lab.Addr, CertFile: lab.ClientCert, KeyFile: lab.ClientKey, CAFile: lab.CAFile,
		middlewares: []kmipclient.Middleware{rec.middleware}, locatePage: 3,
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer src.Close()
	var keys []inventory.Key
	res := src.Keys(context.Background(), func(k inventory.Key) error { keys = append(keys, k); return nil })
	if res.Status != inventory.StatusComplete || res.Keys != len(p.ids) {
		t.Fatalf("result %+v, want complete with %d keys", res, len(p.ids))
	}
	byName := map[string]inventory.Key{}
	for _, k := range keys {
		byName[k.Label] = k
		if k.Source != "kmip" || k.ID == "" || k.Ref == "" || !strings.HasPrefix(k.Ref, "kmip://"+lab.Addr) {
			t.Errorf("%s: source %q id %q ref %q", k.Label, k.Source, k.ID, k.Ref)
		}
	}

	for _, c := range []struct {
		name, stem string
		class      inventory.Class
		keyType    string
		paired     int
	}{
		{"web-private", "web", inventory.ClassPrivateKey, "RSA", 2},
		{"web-public", "web", inventory.ClassPublicKey, "RSA", 2},
		{"web-cert", "web", inventory.ClassCertificate, "RSA", 2},
		{"db-private", "db", inventory.ClassPrivateKey, "ECDSA", 1},
		{"db-public", "db", inventory.ClassPublicKey, "ECDSA", 1},
		{"orphan-private", "", inventory.ClassPrivateKey, "RSA", 0},
		{"backup-aes", "", inventory.ClassSecretKey, "AES", 0},
	} {
		k, ok := byName[c.name]
		if !ok {
			t.Errorf("%s not listed; got %v", c.name, keys)
			continue
		}
		if k.ID != p.ids[c.name] || k.Class != c.class || k.KeyType != c.keyType {
			t.Errorf("%s: id %s class %s type %s, want %s %s %s", c.name, k.ID, k.Class, k.KeyType, p.ids[c.name], c.class, c.keyType)
		}
		if want := p.spki[c.stem]; k.SPKISHA256 != want {
			t.Errorf("%s: spki %q, want %q (notes %v)", c.name, k.SPKISHA256, want, k.Notes)
		}
		if len(k.PairedWith) != c.paired {
			t.Errorf("%s: paired with %v, want %d objects", c.name, k.PairedWith, c.paired)
		}
	}
	if k := byName["web-private"]; k.SPKISource != inventory.SPKIFromName {
		t.Errorf("web-private: spki_source %q", k.SPKISource)
	}
	if k := byName["orphan-private"]; !hasNote(k, "unpaired") {
		t.Errorf("orphan-private notes %v, want unpaired", k.Notes)
	}
	if k := byName["web-cert"]; k.CertSHA256 == "" || !strings.Contains(k.Subject, "web.example.test") {
		t.Errorf("web-cert: cert %q subject %q", k.CertSHA256, k.Subject)
	}
	if k := byName["backup-aes"]; k.KeyBits != 256 || strings.Join(k.Usage, ",") != "encrypt,decrypt" || k.Sensitive == nil {
		t.Errorf("backup-aes: bits %d usage %v sensitive %v", k.KeyBits, k.Usage, k.Sensitive)
	}
	if k := byName["db-public"]; k.Curve != "P-256" || k.Sensitive != nil || k.State != "pre_active" {
		t.Errorf("db-public: curve %q sensitive %v state %q", k.Curve, k.Sensitive, k.State)
	}

	// reconcile's checks read KMIP keys like any other: the certificate
	// served with the registered key is managed, another one is not.
	served := func(target, spki string) records.Observation {
		return records.Observation{Target: target, Host: target, IP: "127.0.0.1", Port: 443, Protocol: "tls",
			Chain: []certinfo.Cert{{SHA256: "c-" + target, SPKISHA256: spki, Subject: "CN=" + target}}}
	}
	snap := reconcile.Snapshot{Now: time.Now(), Keys: keys,
		Observations: []records.Observation{served("web", p.spki["web"]), served("db", p.spki["db"]), served("rogue", strings.Repeat("f", 64))}}
	if r := reconcile.Run(&snap, reconcile.Options{Checks: []string{"unmanaged-key"}}); len(r.Findings) != 1 || r.Findings[0].Subject != "CN=rogue" {
		t.Errorf("unmanaged-key findings %+v, want only CN=rogue", r.Findings)
	}

	// Never a Get for private or symmetric material.
	public := map[string]bool{p.ids["web-public"]: true, p.ids["web-cert"]: true, p.ids["db-public"]: true}
	for _, id := range rec.gets {
		if !public[id] {
			t.Errorf("Get sent for %s, which is not a public key or certificate", id)
		}
	}
	if len(rec.gets) != len(public) {
		t.Errorf("Get sent %d times (%v), want once per public object (%d)", len(rec.gets), rec.gets, len(public))
	}
	// Seven objects, three a page: three Locates.
	if rec.ops[kmip.OperationLocate] != 3 || rec.ops[kmip.OperationGetAttributes] != len(p.ids) {
		t.Errorf("operations %v", rec.ops)
	}
	// Batched: one message of Get Attributes, one of Get.
	if rec.msgs[kmip.OperationGetAttributes] != 1 || rec.msgs[kmip.OperationGet] != 1 {
		t.Errorf("request messages %v", rec.msgs)
	}
	for op := range rec.ops {
		switch op {
		case kmip.OperationDiscoverVersions, kmip.OperationLocate, kmip.OperationGetAttributes, kmip.OperationGet:
		default:
			t.Errorf("unexpected operation %v sent", op)
		}
	}
}

// TestPyKMIPPartial: a connection failing part way leaves a partial
// result holding the objects read before it, never an empty inventory.
func TestPyKMIPPartial(t *testing.T) {
	lab := testlab.StartPyKMIP(t)
	populate(t, lab)
	var mu sync.Mutex
	n := 0
	failSecond := func(next kmipclient.Next, ctx context.Context, msg *kmip.RequestMessage) (*kmip.ResponseMessage, error) {
		mu.Lock()
		defer mu.Unlock()
		if msg.BatchItem[0].Operation == kmip.OperationGetAttributes {
			if n++; n == 2 {
				return nil, errors.New("connection reset by peer")
			}
		}
		return next(ctx, msg)
	}
	src, err := Open(context.Background(), Config{URI: "kmip://" + lab.Addr, CertFile: lab.ClientCert, KeyFile: lab.ClientKey,
		CAFile: lab.CAFile, middlewares: []kmipclient.Middleware{failSecond}, batch: 3})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	res := src.Keys(context.Background(), func(inventory.Key) error { return nil })
	if res.Status != inventory.StatusPartial || res.Keys != 3 || !strings.Contains(res.Error, "connection reset") {
		t.Errorf("result %+v, want partial with the first batch's 3 keys", res)
	}
	src.Close()
	if res := src.Keys(context.Background(), func(inventory.Key) error { return nil }); res.Status != inventory.StatusFailed {
		t.Errorf("after Close: %+v", res)
	}
}

func TestPyKMIPSourceSuite(t *testing.T) {
	lab := testlab.StartPyKMIP(t)
	populate(t, lab)
	key, err := os.ReadFile(lab.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	sourcetest.Run(t, func(t *testing.T) inventory.Source {
		s, err := Open(context.Background(), Config{URI: "kmip://" + lab.Addr, CertFile: lab.ClientCert, KeyFile: lab.ClientKey, CAFile: lab.CAFile})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}, sourcetest.Options{MinKeys: 7, Secrets: []string{string(key)}})
}

func hasNote(k inventory.Key, sub string) bool {
	for _, n := range k.Notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

func TestOpenWarnsAboutReadableKeyFile(t *testing.T) {
	lab := testlab.StartPyKMIP(t)
	if err := os.Chmod(lab.ClientKey, 0o644); err != nil {
		t.Fatal(err)
	}
	var warned []error
	cfg := Config{URI: "kmip://" + lab.Addr, CertFile: lab.ClientCert, KeyFile: lab.ClientKey, CAFile: lab.CAFile,
		Secrets: secretfile.Policy{Warn: func(err error) { warned = append(warned, err) }}}
	src, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	src.Close()
	if len(warned) != 1 || !strings.Contains(warned[0].Error(), lab.ClientKey) {
		t.Errorf("warnings %v, want one naming the key file", warned)
	}
	cfg.Secrets.Strict = true
	if _, err := Open(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "readable by group or others") {
		t.Errorf("strict open: %v", err)
	}
}

func TestParseURI(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"kmip://127.0.0.1:5696", "127.0.0.1:5696"},
		{"kmip://kms.example.test", "kms.example.test:5696"},
		{"kmip://[::1]:9000", "[::1]:9000"},
		{"kmip://", ""},
		{"kmip://user@host:1", ""},
		{"kmip://host:1/path", ""},
		{"pkcs11:token=x", ""},
	} {
		got, err := ParseURI(c.in)
		if (err != nil) != (c.want == "") || got != c.want {
			t.Errorf("ParseURI(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestStem(t *testing.T) {
	for _, c := range []struct {
		name, want string
		ok         bool
	}{{"web-private", "web", true}, {"web-priv", "web", true}, {"-private", "", false}, {"web", "", false}} {
		got, ok := stem(c.name, DefaultNames.Private)
		if got != c.want || ok != c.ok {
			t.Errorf("stem(%q) = %q, %v", c.name, got, ok)
		}
	}
}

// PyKMIP keeps no Link: pairing by Link is checked on objects built here.
func TestPairByLink(t *testing.T) {
	obj := func(typ kmip.ObjectType, class inventory.Class, id, name, spki string, links ...kmip.Link) *object {
		return &object{typ: typ, name: name, links: links, key: inventory.Key{Source: "kmip", Class: class, ID: id, Label: name, SPKISHA256: spki}}
	}
	priv := obj(kmip.ObjectTypePrivateKey, inventory.ClassPrivateKey, "1", "a", "", kmip.Link{LinkType: kmip.LinkTypePublicKeyLink, LinkedObjectIdentifier: "2"})
	pub := obj(kmip.ObjectTypePublicKey, inventory.ClassPublicKey, "2", "b", "aa")
	priv2 := obj(kmip.ObjectTypePrivateKey, inventory.ClassPrivateKey, "3", "c", "")
	cert := obj(kmip.ObjectTypeCertificate, inventory.ClassCertificate, "4", "d", "bb", kmip.Link{LinkType: kmip.LinkTypePrivateKeyLink, LinkedObjectIdentifier: "3"})
	named := obj(kmip.ObjectTypePrivateKey, inventory.ClassPrivateKey, "5", "x-private", "")
	namedPub := obj(kmip.ObjectTypePublicKey, inventory.ClassPublicKey, "6", "x-public", "cc")
	lone := obj(kmip.ObjectTypePrivateKey, inventory.ClassPrivateKey, "7", "y-private", "")
	pairByLinkOrName([]*object{priv, pub, priv2, cert, named, namedPub, lone}, DefaultNames)
	for _, c := range []struct {
		o    *object
		spki string
		note string
	}{{priv, "aa", "it links to"}, {priv2, "bb", "linking to it"}, {named, "cc", "name rule"}, {lone, "", "unpaired"}} {
		if c.o.key.SPKISHA256 != c.spki || !hasNote(c.o.key, c.note) || (c.spki != "" && c.o.key.SPKISource == "") {
			t.Errorf("%s: spki %q notes %v, want %q and a note %q", c.o.name, c.o.key.SPKISHA256, c.o.key.Notes, c.spki, c.note)
		}
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"kmip://127.0.0.1:5696", "kmip://kms.example.test", "kmip://[::1]:1", "kmip://a@b", "kmip:///x", "pkcs11:token=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		addr, err := ParseURI(raw)
		if err != nil {
			return
		}
		if !IsURI(raw) || addr == "" {
			t.Errorf("ParseURI(%q) = %q without the kmip:// scheme or an address", raw, addr)
		}
		if again, err := ParseURI("kmip://" + addr); err != nil || again != addr {
			t.Errorf("ParseURI(kmip://%s) = %q, %v: not stable", addr, again, err)
		}
	})
}
