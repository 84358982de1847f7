package checks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func cert(name, spki string, mods ...func(*certinfo.Cert)) certinfo.Cert {
	c := certinfo.Cert{SHA256: "c-" + name, SPKISHA256: spki, Subject: "CN=" + name, Issuer: "CN=R11,O=Let's Encrypt,C=US",
		SANs: []string{name}, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(0, 2, 0), KeyType: "ECDSA", KeyBits: 256, Curve: "P-256",
		SignatureAlgorithm: "ECDSA-SHA256"}
	for _, m := range mods {
		m(&c)
	}
	return c
}

func obs(target string, c certinfo.Cert, mods ...func(*records.Observation)) records.Observation {
	o := records.Observation{Target: target, Host: target, IP: "127.0.0.1", Port: 443, Protocol: "tls", TLSVersion: "TLS 1.3",
		CipherSuite: "TLS_AES_128_GCM_SHA256", Group: "X25519MLKEM768", Chain: []certinfo.Cert{c}}
	for _, m := range mods {
		m(&o)
	}
	return o
}

func key(label, spki string, mods ...func(*records.Key)) records.Key {
	t, f := true, false
	start := now.AddDate(0, -6, 0)
	k := records.Key{Source: "pkcs11", Token: "hsm1", Label: label, ID: "01", Class: records.ClassPrivateKey, KeyType: "EC", KeyBits: 256,
		Curve: "P-256", SPKISHA256: spki, Sensitive: &t, Extractable: &f, Usage: []string{"sign"}, StartDate: &start}
	for _, m := range mods {
		m(&k)
	}
	return k
}

func complete(kinds ...string) []reconcile.SourceStatus {
	var out []reconcile.SourceStatus
	for i, k := range kinds {
		out = append(out, reconcile.SourceStatus{Kind: k, RunID: int64(i + 1), Status: "complete"})
	}
	return out
}

func caaResult(name, relevant string, cas ...string) records.CAAResult {
	r := records.CAAResult{Name: name, RelevantName: relevant, Permits: &records.CAAPermits{Any: relevant == "", CAs: cas}, PermitsWildcard: &records.CAAPermits{Any: relevant == "", CAs: cas}}
	return r
}

type tcase struct {
	name  string
	snap  reconcile.Snapshot
	check string
	// want is the number of findings of check; msg a substring of the first.
	want int
	msg  string
	sev  reconcile.Severity
	// opts are extra Run options (suppressions).
	opts reconcile.Options
}

func managed(spkis ...string) []records.Key {
	var ks []records.Key
	for _, s := range spkis {
		ks = append(ks, key("k-"+s, s))
	}
	return ks
}

var cases = []tcase{
	{name: "expired suppression", check: "suppression-expired", want: 1, msg: "expired on 2026-11-24",
		opts: reconcile.Options{Suppressions: []reconcile.Suppression{
			{Check: "weak-key", Subject: "CN=old", Reason: "migration", Until: now.AddDate(0, 0, -1), Source: ".keyaudit-ignore.yaml:3"},
			{Check: "weak-key", Subject: "CN=new", Reason: "migration", Until: now.AddDate(0, 1, 0)},
		}}},
	{name: "unmanaged key served", check: "unmanaged-key", want: 1, msg: "in no inventory",
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a.example.com:443", cert("a.example.com", "s1")), obs("b.example.com:443", cert("b.example.com", "s2"))}, Keys: managed("s2")}},
	{name: "managed keys only", check: "unmanaged-key", want: 0,
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("b.example.com:443", cert("b.example.com", "s2"))}, Keys: managed("s2")}},
	{name: "CT cert with unknown key", check: "unauthorized-issuance", want: 1, msg: "key is in no inventory",
		snap: reconcile.Snapshot{Watched: []string{"example.com"}, Sightings: []records.Sighting{{Log: "log1", Index: 7, SPKISHA256: "x", CertSHA256: "cx", Issuer: "CN=R11,O=Let's Encrypt,C=US", Names: []string{"www.example.com"}}}}},
	{name: "CT cert, not watched", check: "unauthorized-issuance", want: 0,
		snap: reconcile.Snapshot{Watched: []string{"example.com"}, Sightings: []records.Sighting{{Log: "log1", Index: 7, SPKISHA256: "x", Issuer: "CN=R11,O=Let's Encrypt,C=US", Names: []string{"www.example.org"}}}}},
	{name: "CT cert from a CA CAA forbids", check: "unauthorized-issuance", want: 1, msg: "which CAA at example.com does not allow",
		snap: reconcile.Snapshot{Watched: []string{"example.com"}, Keys: managed("s9"), CAA: []records.CAAResult{caaResult("www.example.com", "example.com", "digicert.com")},
			Sightings: []records.Sighting{{Log: "log1", Index: 8, SPKISHA256: "s9", Issuer: "CN=R11,O=Let's Encrypt,C=US", Names: []string{"www.example.com"}}}}},
	{name: "CT cert from the policy's CA, key managed", check: "unauthorized-issuance", want: 0,
		snap: reconcile.Snapshot{Watched: []string{"example.com"}, Keys: managed("s9"), Policy: reconcile.Policy{AllowedCAs: []string{"letsencrypt.org"}},
			CAA:       []records.CAAResult{caaResult("www.example.com", "example.com", "letsencrypt.org")},
			Sightings: []records.Sighting{{Log: "log1", Index: 8, SPKISHA256: "s9", Issuer: "CN=R11,O=Let's Encrypt,C=US", Names: []string{"www.example.com"}}}}},
	{name: "CT cert from a CA outside policy", check: "unauthorized-issuance", want: 1, msg: "not among the policy's allowed CAs",
		snap: reconcile.Snapshot{Watched: []string{"example.com"}, Keys: managed("s9"), Policy: reconcile.Policy{AllowedCAs: []string{"digicert.com"}},
			Sightings: []records.Sighting{{Log: "log1", Index: 8, SPKISHA256: "s9", Issuer: "CN=R11,O=Let's Encrypt,C=US", Names: []string{"www.example.com"}}}}},
	{name: "no CAA", check: "caa-missing", want: 1, msg: "every CA may issue",
		snap: reconcile.Snapshot{Watched: []string{"example.com"}, CAA: []records.CAAResult{caaResult("example.com", "")}}},
	{name: "CAA present", check: "caa-missing", want: 0,
		snap: reconcile.Snapshot{Watched: []string{"example.com"}, CAA: []records.CAAResult{caaResult("example.com", "example.com", "letsencrypt.org")}}},
	{name: "CAA permits another CA", check: "caa-permits-unapproved-ca", want: 1, msg: "digicert.com",
		snap: reconcile.Snapshot{Policy: reconcile.Policy{AllowedCAs: []string{"letsencrypt.org"}}, CAA: []records.CAAResult{caaResult("example.com", "example.com", "letsencrypt.org", "digicert.com")}}},
	{name: "deployed cert CAA forbids", check: "caa-forbids-issuer", want: 1, msg: "Let's Encrypt",
		snap: reconcile.Snapshot{CAA: []records.CAAResult{caaResult("a.example.com", "example.com", "digicert.com")}, Observations: []records.Observation{obs("a.example.com:443", cert("a.example.com", "s1"))}}},
	{name: "CAA lookup failed", check: "caa-lookup-failed", want: 1, msg: "servfail",
		snap: reconcile.Snapshot{CAA: []records.CAAResult{{Name: "example.com", Error: &records.CAAError{Kind: "servfail", Message: "SERVFAIL from 127.0.0.1:53"}}}}},
	{name: "orphaned key", check: "orphaned-key", want: 1, msg: "184 days old",
		snap: reconcile.Snapshot{Sources: complete("scan", "inventory"), Keys: []records.Key{key("old", "s7", withRef("r-old")), key("old-pub", "s7", func(k *records.Key) { k.Class = records.ClassPublicKey }), key("used", "s8")},
			Observations: []records.Observation{obs("a:443", cert("a", "s8"))}}},
	{name: "orphan held back on partial scan", check: "orphaned-key", want: 0,
		snap: reconcile.Snapshot{Sources: []reconcile.SourceStatus{{Kind: "scan", Status: "partial"}}, Keys: []records.Key{key("old", "s7", withRef("r-old"))}}},
	{name: "orphan younger than policy minimum", check: "orphaned-key", want: 0,
		snap: reconcile.Snapshot{Sources: complete("scan"), Policy: reconcile.Policy{OrphanMinAge: 365 * reconcile.Day}, Keys: []records.Key{key("new", "s7")}}},
	{name: "key on unrelated domains", check: "key-reuse", want: 1, msg: "example.com, example.org",
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("www.example.com", "s1")), obs("b:443", cert("shop.example.org", "s1", func(c *certinfo.Cert) { c.SHA256 = "other" }))}}},
	{name: "HSM RSA key signs and decrypts", check: "key-reuse", want: 1, msg: "both sign and decrypt",
		snap: reconcile.Snapshot{Keys: []records.Key{key("dual", "s1", func(k *records.Key) { k.KeyType, k.Usage = "RSA", []string{"sign", "decrypt"} })}}},
	{name: "EC key with a meaningless decrypt flag", check: "key-reuse", want: 0,
		snap: reconcile.Snapshot{Keys: []records.Key{key("ec", "s1", func(k *records.Key) { k.Usage = []string{"sign", "decrypt", "unwrap"} })}}},
	{name: "EC key signs and derives", check: "key-reuse", want: 1, msg: "sign and derive",
		snap: reconcile.Snapshot{Keys: []records.Key{key("ec", "s1", func(k *records.Key) { k.Usage = []string{"sign", "derive"} })}}},
	{name: "KEK also encrypts data", check: "key-reuse", want: 1, msg: "encrypt data and wrap keys",
		snap: reconcile.Snapshot{Keys: []records.Key{key("kek", "", func(k *records.Key) {
			k.Class, k.KeyType, k.Usage = records.ClassSecretKey, "AES", []string{"encrypt", "decrypt", "wrap", "unwrap"}
		})}}},
	{name: "code-signing key on TLS", check: "key-reuse", want: 1, msg: "declared for \"code-signing\"",
		snap: reconcile.Snapshot{Keys: []records.Key{key("cs", "s1", func(k *records.Key) { k.Purpose = "code-signing" })}, Observations: []records.Observation{obs("a:443", cert("a.example.com", "s1"))}}},
	{name: "expired", check: "certificate-expired", want: 1, msg: "expired 3 days ago",
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s1", func(c *certinfo.Cert) { c.NotAfter = now.AddDate(0, 0, -3) }))}}},
	{name: "expiring in 10 days is medium", check: "certificate-expiring", want: 1, msg: "expires in 10 days", sev: reconcile.Medium,
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s1", func(c *certinfo.Cert) { c.NotAfter = now.AddDate(0, 0, 10) }))}}},
	{name: "expiring in 5 days is high", check: "certificate-expiring", want: 1, sev: reconcile.High,
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s1", func(c *certinfo.Cert) { c.NotAfter = now.AddDate(0, 0, 5) }))}}},
	{name: "expiring in 60 days", check: "certificate-expiring", want: 0,
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s1"))}}},
	{name: "lifetime over 200 days after 2026-03-15", check: "certificate-lifetime", want: 1, msg: "200-day maximum",
		snap: reconcile.Snapshot{Sightings: []records.Sighting{{CertSHA256: "c-a", SPKISHA256: "s1"}}, Observations: []records.Observation{obs("a:443", cert("a", "s1", func(c *certinfo.Cert) {
			c.NotBefore, c.NotAfter = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		}))}}},
	{name: "398 days before 2026-03-15 is fine", check: "certificate-lifetime", want: 0,
		snap: reconcile.Snapshot{Sightings: []records.Sighting{{CertSHA256: "c-a", SPKISHA256: "s1"}}, Observations: []records.Observation{obs("a:443", cert("a", "s1", func(c *certinfo.Cert) {
			c.NotBefore, c.NotAfter = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 2, 23, 59, 59, 0, time.UTC)
		}))}}},
	{name: "RSA-1024 served", check: "weak-key", want: 1, msg: "RSA-1024 is below the 2048-bit minimum",
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s1", func(c *certinfo.Cert) { c.KeyType, c.KeyBits, c.Curve = "RSA", 1024, "" }))}}},
	{name: "ROCA key is critical", check: "weak-key", want: 1, msg: "ROCA", sev: reconcile.Critical,
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s1", func(c *certinfo.Cert) {
			c.KeyType, c.KeyBits, c.Curve, c.KeyWeakness = "RSA", 2048, "", "ROCA fingerprint (CVE-2017-15361)"
		}))}}},
	{name: "secp256k1 in the HSM", check: "weak-key", want: 1, msg: "secp256k1",
		snap: reconcile.Snapshot{Keys: []records.Key{key("k1", "s1", func(k *records.Key) { k.Curve = "secp256k1" })}}},
	{name: "SHA-1 signature", check: "weak-signature", want: 1, msg: "SHA1-RSA",
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s1", func(c *certinfo.Cert) { c.SignatureAlgorithm = "SHA1-RSA" }))}}},
	{name: "TLS 1.0", check: "weak-tls-version", want: 1, msg: "negotiated TLS 1.0",
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s1"), func(o *records.Observation) { o.TLSVersion = "TLS 1.0" })}}},
	{name: "no PQC", check: "no-pqc-key-exchange", want: 1, msg: "x25519", sev: reconcile.Info,
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s1"), func(o *records.Observation) { o.Group = "x25519" })}}},
	{name: "extractable private key", check: "key-extractable", want: 1, msg: "extractable",
		snap: reconcile.Snapshot{Keys: []records.Key{key("exp", "s1", func(k *records.Key) { t := true; k.Extractable = &t })}}},
	{name: "non-sensitive AES key", check: "key-extractable", want: 1, msg: "not sensitive",
		snap: reconcile.Snapshot{Keys: []records.Key{key("aes", "", func(k *records.Key) {
			f := false
			k.Class, k.KeyType, k.Sensitive = records.ClassSecretKey, "AES", &f
		})}}},
	{name: "signature key past 3 years", check: "cryptoperiod-exceeded", want: 1, msg: "past its 1095-day cryptoperiod",
		snap: reconcile.Snapshot{Keys: []records.Key{key("old", "s1", func(k *records.Key) { d := now.AddDate(-4, 0, 0); k.StartDate = &d })}}},
	{name: "metadata cryptoperiod 90d", check: "cryptoperiod-exceeded", want: 1, msg: "inventory metadata 90d",
		snap: reconcile.Snapshot{Keys: []records.Key{key("short", "s1", func(k *records.Key) { k.Cryptoperiod = "90d" })}}},
	{name: "CKA_ID mismatch", check: "key-id-mismatch", want: 1, msg: "pairs with objects of other IDs",
		snap: reconcile.Snapshot{Keys: []records.Key{key("m", "s1", func(k *records.Key) {
			k.IDMismatch, k.PairedWith = true, []records.ObjectRef{{Class: records.ClassCertificate, ID: "02"}}
		})}}},
	{name: "revoked but served", check: "revoked-but-deployed", want: 1, msg: "keyCompromise",
		snap: reconcile.Snapshot{Revocations: []reconcile.Revocation{{CertSHA256: "c-a", Reason: "keyCompromise", Source: "keyaudit revoke", RevokedAt: now}},
			Observations: []records.Observation{obs("a:443", cert("a", "s1"))}}},
	{name: "self-signed served", check: "self-signed-certificate", want: 1,
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s1", func(c *certinfo.Cert) { c.SelfSigned = true }))}}},
	{name: "lying log", check: "ct-log-misbehaviour", want: 1, msg: "root mismatch",
		snap: reconcile.Snapshot{LogIssues: []reconcile.LogIssue{{Log: "log1", Kind: "misbehaviour", Message: "root mismatch at size 10"}}}},
	{name: "partial inventory run", check: "incomplete-input", want: 1, msg: "inventory run 3 is partial",
		snap: reconcile.Snapshot{Sources: []reconcile.SourceStatus{{Kind: "inventory", RunID: 3, Status: "partial", Note: "token hsm2 removed"}}}},
	{name: "public CA leaf without SAN fails the BRs", check: "zlint", want: 1, msg: "e_ext_san_missing", sev: reconcile.High,
		snap: lintSnap("Let's Encrypt", false, func(c *x509.Certificate) { c.DNSNames = nil })},
	{name: "private CA leaf with empty subject and no SAN", check: "zlint", want: 1, msg: "e_subject_empty_without_san", sev: reconcile.Medium,
		snap: lintSnap("Example Corp internal", false, func(c *x509.Certificate) { c.Subject, c.DNSNames = pkix.Name{}, nil })},
	{name: "private CA leaf: BR-only lints do not apply", check: "zlint", want: 0,
		snap: lintSnap("Example Corp internal", false, func(c *x509.Certificate) { c.DNSNames = nil })},
	{name: "self-signed leaf is not linted", check: "zlint", want: 0,
		snap: lintSnap("Example Corp internal", true, func(c *x509.Certificate) { c.Subject, c.DNSNames = pkix.Name{}, nil })},
	{name: "no DER, nothing to lint", check: "zlint", want: 0,
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s1"))}}},
	{name: "new endpoint", check: "endpoint-new", want: 1, msg: "new endpoint serving CN=b", sev: reconcile.Info,
		snap: drift(run{obs("a:443", cert("a", "s1"))}, run{obs("a:443", cert("a", "s1")), obs("b:443", cert("b", "s2"))})},
	{name: "endpoint that timed out before is not new", check: "endpoint-new", want: 0,
		snap: drift(run{obs("b:443", certinfo.Cert{}, timeout)}, run{obs("b:443", cert("b", "s2"))})},
	{name: "endpoint refused before is new", check: "endpoint-new", want: 1,
		snap: drift(run{obs("b:443", certinfo.Cert{}, refused)}, run{obs("b:443", cert("b", "s2"))})},
	{name: "endpoint not attempted is not gone", check: "endpoint-gone", want: 0,
		snap: drift(run{obs("a:443", cert("a", "s1")), obs("b:443", cert("b", "s2"))}, run{obs("a:443", cert("a", "s1"))}, run{obs("a:443", cert("a", "s1"))})},
	{name: "endpoint refused once is not gone yet", check: "endpoint-gone", want: 0,
		snap: drift(run{obs("b:443", cert("b", "s2"))}, run{obs("b:443", certinfo.Cert{}, refused)})},
	{name: "endpoint refused in two complete attempts is gone", check: "endpoint-gone", want: 1, msg: "runs [2 3]", sev: reconcile.Low,
		snap: drift(run{obs("b:443", cert("b", "s2"))}, run{obs("b:443", certinfo.Cert{}, refused)}, run{obs("b:443", certinfo.Cert{}, refused)})},
	{name: "an interrupted run's failure does not count", check: "endpoint-gone", want: 0,
		snap: drift(run{obs("b:443", cert("b", "s2"))}, run{obs("b:443", certinfo.Cert{}, refused, uncounted)}, run{obs("b:443", certinfo.Cert{}, refused)})},
	{name: "serving again ends the streak", check: "endpoint-gone", want: 0,
		snap: drift(run{obs("b:443", cert("b", "s2"))}, run{obs("b:443", certinfo.Cert{}, refused)}, run{obs("b:443", cert("b", "s2"))}, run{obs("b:443", certinfo.Cert{}, refused)})},
	{name: "same endpoint on another IP is another endpoint", check: "endpoint-gone", want: 0,
		snap: drift(run{obs("a:443", cert("a", "s1"))}, run{obs("a:443", cert("a", "s1"), func(o *records.Observation) { o.IP = "127.0.0.2" })})},
	{name: "key gone from its source", check: "key-disappeared", want: 1, msg: "is gone from its complete read in run 3", sev: reconcile.High,
		snap: reconcile.Snapshot{Disappeared: []reconcile.DisappearedKey{{Key: key("old-signing", "s7", withRef("r-old-signing")), Source: "pkcs11:token=hsm1", LastRun: 2, Run: 3}}}},
	{name: "key gone while still served", check: "key-disappeared", want: 1, msg: "still served", sev: reconcile.Critical,
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s7"))},
			Disappeared: []reconcile.DisappearedKey{{Key: key("web", "s7"), Source: "pkcs11:token=hsm1", LastRun: 2, Run: 3}}}},
	{name: "key destroyed by an approved plan is not disappeared", check: "key-disappeared", want: 0,
		snap: reconcile.Snapshot{Disappeared: []reconcile.DisappearedKey{{Key: key("old-signing", "s7", withRef("r-old-signing")), Source: "pkcs11:token=hsm1", LastRun: 2, Run: 3}},
			Destructions: []reconcile.Destruction{{PlanID: "dp-1", Action: 1, Source: "pkcs11:token=hsm1", Refs: []string{key("old-signing", "s7", withRef("r-old-signing")).Ref}, Outcome: "destroyed"}}}},
	{name: "failed destruction still disappeared", check: "key-disappeared", want: 1,
		snap: reconcile.Snapshot{Disappeared: []reconcile.DisappearedKey{{Key: key("old-signing", "s7", withRef("r-old-signing")), Source: "pkcs11:token=hsm1", LastRun: 2, Run: 3}},
			Destructions: []reconcile.Destruction{{PlanID: "dp-1", Action: 1, Source: "pkcs11:token=hsm1", Refs: []string{key("old-signing", "s7", withRef("r-old-signing")).Ref}, Outcome: "failed"}}}},
	{name: "destroyed key still listed by its source", check: "key-destruction-unverified", want: 1, msg: "the source still holds it", sev: reconcile.High,
		snap: reconcile.Snapshot{Keys: []records.Key{key("old", "s7", withRef("r-old"))}, KeySources: []string{"pkcs11:token=hsm1"},
			Destructions: []reconcile.Destruction{{PlanID: "dp-1", Action: 1, Name: "hsm1/old", Source: "pkcs11:token=hsm1", Refs: []string{key("old", "s7", withRef("r-old")).Ref}, Outcome: "destroyed", At: now}}}},
	{name: "destroyed key gone from the latest read", check: "key-destruction-unverified", want: 0,
		snap: reconcile.Snapshot{Keys: []records.Key{key("other", "s8", withRef("r-other"))}, KeySources: []string{"pkcs11:token=hsm1"},
			Destructions: []reconcile.Destruction{{PlanID: "dp-1", Action: 1, Name: "hsm1/old", Source: "pkcs11:token=hsm1", Refs: []string{key("old", "s7", withRef("r-old")).Ref}, Outcome: "destroyed", At: now}}}},
	{name: "verified destruction", check: "key-destruction-unverified", want: 0,
		snap: reconcile.Snapshot{Keys: []records.Key{key("old", "s7", withRef("r-old"))}, KeySources: []string{"pkcs11:token=hsm1"},
			Destructions: []reconcile.Destruction{{PlanID: "dp-1", Action: 1, Source: "pkcs11:token=hsm1", Refs: []string{key("old", "s7", withRef("r-old")).Ref}, Outcome: "destroyed", Verified: true}}}},
	{name: "AWS deletion in its waiting period", check: "key-destruction-unverified", want: 1, msg: "deletion is scheduled for", sev: reconcile.Low,
		snap: reconcile.Snapshot{Keys: []records.Key{key("k1", "s9", withRef("r-k1"))}, KeySources: []string{"awskms://eu-west-1"},
			Destructions: []reconcile.Destruction{{PlanID: "dp-2", Action: 1, Source: "awskms://eu-west-1", Refs: []string{key("k1", "s9", withRef("r-k1")).Ref}, Outcome: "scheduled", At: now, DeletionDate: ptrTime(now.AddDate(0, 0, 30))}}}},
	{name: "destruction without a read since", check: "key-destruction-unverified", want: 1, msg: "no complete read of its source",
		snap: reconcile.Snapshot{Destructions: []reconcile.Destruction{{PlanID: "dp-1", Action: 1, Source: "kmip://127.0.0.1:5696", Refs: []string{"r"}, Outcome: "destroyed", At: now}}}},
	{name: "notifications keep failing", check: "notification-failed", want: 1, msg: "3 notifications of route web to sink hook are undelivered", sev: reconcile.High,
		snap: reconcile.Snapshot{NotificationFailures: []reconcile.NotificationFailure{{Route: "web", Sink: "hook", Pending: 3, Attempts: 6, LastError: "connection refused", Oldest: now}}}},
	{name: "no failing notifications", check: "notification-failed", want: 0},
	{name: "stale observation", check: "stale-observation", want: 1, msg: "days ago", sev: reconcile.Low,
		snap: drift(run{obs("a:443", cert("a", "s1"), func(o *records.Observation) { o.Time = now.AddDate(0, 0, -45) })})},
	{name: "certificate renewed", check: "certificate-changed", want: 1, msg: "certificate changed (was CN=a", sev: reconcile.Info,
		snap: drift(run{obs("a:443", cert("a", "s1"))}, run{obs("a:443", cert("a", "s1", func(c *certinfo.Cert) { c.SHA256 = "c-a2" }))})},
	{name: "certificate unchanged", check: "certificate-changed", want: 0,
		snap: drift(run{obs("a:443", cert("a", "s1"))}, run{obs("a:443", cert("a", "s1"))})},
	{name: "key changed to an unmanaged key", check: "key-changed-unmanaged", want: 1, msg: "new key is in no inventory source", sev: reconcile.Medium,
		snap: withKeys(drift(run{obs("a:443", cert("a", "s1"))}, run{obs("a:443", cert("a", "s9", func(c *certinfo.Cert) { c.SHA256 = "c-a2" }))}), "s1")},
	{name: "key changed to a managed key", check: "key-changed-unmanaged", want: 0,
		snap: withKeys(drift(run{obs("a:443", cert("a", "s1"))}, run{obs("a:443", cert("a", "s9", func(c *certinfo.Cert) { c.SHA256 = "c-a2" }))}), "s1", "s9")},
	{name: "no previous scan, no drift", check: "key-changed-unmanaged", want: 0,
		snap: reconcile.Snapshot{Observations: []records.Observation{obs("a:443", cert("a", "s9"))}}},
}

func timeout(o *records.Observation) {
	o.Chain, o.Error = nil, &records.ScanError{Kind: records.ScanTimeout, Message: "i/o timeout"}
}

func refused(o *records.Observation) {
	o.Chain, o.Error = nil, &records.ScanError{Kind: records.ScanRefused, Message: "connection refused"}
}

// run is the observations of one scan run, for drift.
type run []records.Observation

// uncounted marks an observation as made by an interrupted run.
func uncounted(o *records.Observation) { o.Host = "uncounted:" + o.Host }

// drift folds runs 1, 2 … (one hour apart, complete unless an
// observation is marked uncounted) into the estate view.
func drift(runs ...run) reconcile.Snapshot {
	byKey := map[string][]reconcile.Attempt{}
	var keys []string
	for i, r := range runs {
		for _, o := range r {
			counted := true
			if h, ok := strings.CutPrefix(o.Host, "uncounted:"); ok {
				o.Host, counted = h, false
			}
			if o.Time.IsZero() {
				o.Time = now.Add(time.Duration(i-len(runs)) * time.Hour)
			}
			k := o.Protocol + "|" + o.Target + "|" + o.IP
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], reconcile.Attempt{RunID: int64(i + 1), Counted: counted, Obs: o})
		}
	}
	var s reconcile.Snapshot
	for _, k := range keys {
		e := reconcile.FoldEndpoint(k, byKey[k], 0, 1)
		s.Endpoints = append(s.Endpoints, e)
		if o, _ := e.Effective(); o != nil {
			s.Observations = append(s.Observations, *o)
		}
	}
	return s
}

func withKeys(s reconcile.Snapshot, spkis ...string) reconcile.Snapshot {
	s.Keys = managed(spkis...)
	return s
}

// lintSnap is a snapshot serving one real leaf issued by a CA of
// organisation org (or self-signed), its template adjusted by mod.
func lintSnap(org string, selfSigned bool, mod func(*x509.Certificate)) reconcile.Snapshot {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	start := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: org + " CA", Organization: []string{org}},
		NotBefore: start, NotAfter: start.AddDate(5, 0, 0), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	must(err)
	ca, err := x509.ParseCertificate(caDER)
	must(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x1234567890), Subject: pkix.Name{CommonName: "lint.example.com"}, DNSNames: []string{"lint.example.com"},
		NotBefore: start, NotAfter: start.AddDate(0, 0, 90), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	mod(tmpl)
	parent, signer := ca, any(caKey)
	if selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	must(err)
	c, err := certinfo.Parse(der)
	must(err)
	return reconcile.Snapshot{Observations: []records.Observation{obs("lint.example.com:443", c)}, CertDER: map[string][]byte{c.SHA256: der}}
}

func TestChecks(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.snap
			s.Now = now
			o := tc.opts
			o.Checks = []string{tc.check}
			res := reconcile.Run(&s, o)
			if len(res.Findings) != tc.want {
				t.Fatalf("%d findings, want %d: %+v", len(res.Findings), tc.want, res.Findings)
			}
			if tc.want == 0 {
				return
			}
			f := res.Findings[0]
			if tc.msg != "" && !strings.Contains(f.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", f.Message, tc.msg)
			}
			if tc.sev != "" && f.Severity != tc.sev {
				t.Errorf("severity %s, want %s", f.Severity, tc.sev)
			}
			if f.Check != tc.check || len(f.Controls) == 0 || !f.FirstSeen.Equal(now) {
				t.Errorf("finding metadata: %+v", f)
			}
		})
	}
}

// TestEveryCheckIsCitedAndTested is the registry's meta-test: every check
// has a description, help, at least one citation and control, and a case
// above in which it fires.
func TestEveryCheckIsCitedAndTested(t *testing.T) {
	fires := map[string]bool{}
	for _, tc := range cases {
		if tc.want > 0 {
			fires[tc.check] = true
		}
	}
	checks := reconcile.Checks()
	if len(checks) < 15 {
		t.Errorf("only %d checks registered", len(checks))
	}
	for _, c := range checks {
		if len(c.Citations) == 0 || c.Help == "" || len(c.Controls) == 0 {
			t.Errorf("check %s lacks citations, help or controls", c.ID)
		}
		if !fires[c.ID] {
			t.Errorf("check %s has no test case in which it fires", c.ID)
		}
	}
}

func TestDriftAndSuppression(t *testing.T) {
	s := reconcile.Snapshot{Now: now, Observations: []records.Observation{obs("a:443", cert("a", "s1")), obs("b:443", cert("b", "s2"))}}
	all := func(string) bool { return true }
	first := reconcile.Run(&s, reconcile.Options{Checks: []string{"unmanaged-key"}})
	tracked, events := reconcile.Advance(&s, first, all, nil)
	if len(first.Findings) != 2 || len(events) != 2 {
		t.Fatalf("first run: %+v, events %+v", first, events)
	}
	earlier := now.AddDate(0, 0, -10)
	stored := map[string]reconcile.Tracked{}
	for _, tr := range tracked {
		tr.FirstSeen = earlier
		stored[tr.Finding.Fingerprint()] = tr
	}
	gone := reconcile.Finding{Check: "unmanaged-key", Subject: "CN=gone", SPKISHA256: "s0"}
	stored[gone.Fingerprint()] = reconcile.Tracked{Finding: gone, State: reconcile.StateOpen, FirstSeen: earlier, LastSeen: earlier, Since: earlier}
	s2 := reconcile.Snapshot{Now: now, Observations: s.Observations}
	second := reconcile.Run(&s2, reconcile.Options{Checks: []string{"unmanaged-key"},
		Suppressions: []reconcile.Suppression{{Check: "unmanaged-key", Subject: "CN=b", Endpoint: "tls://b:*", Reason: "lab host, accepted until migration"}}})
	tracked, events = reconcile.Advance(&s2, second, all, stored)
	resolved := map[string]string{}
	for _, e := range events {
		if e.Event == reconcile.EventResolved {
			resolved[e.Finding.Subject] = e.Evidence["reason"].(string)
		}
	}
	if len(resolved) != 2 || resolved["CN=gone"] != "no-longer-reported" || resolved["CN=b"] != "suppressed" {
		t.Errorf("resolved %v, want CN=gone (no longer reported) and CN=b (suppressed)", resolved)
	}
	for _, tr := range tracked {
		if tr.Finding.Subject == "CN=a" && !tr.FirstSeen.Equal(earlier) {
			t.Errorf("first_seen not carried over: %v", tr.FirstSeen)
		}
	}
	for _, f := range second.Findings {
		if f.Subject == "CN=b" && (!f.Suppressed || f.SuppressedBy == "") {
			t.Errorf("suppression not applied: %+v", f)
		}
	}
	if w, ok := reconcile.Worst(second.Findings); !ok || w != reconcile.Critical {
		t.Errorf("worst = %v %v", w, ok)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

func withRef(r string) func(*records.Key) { return func(k *records.Key) { k.Ref = r } }
