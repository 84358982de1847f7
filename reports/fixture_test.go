package reports

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// fixedNow is the clock of every golden report.
var fixedNow = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// fp is a stable fake fingerprint.
func fp(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:])
}

func day(n int) time.Time { return fixedNow.AddDate(0, 0, n) }

func dayPtr(n int) *time.Time { t := day(n); return &t }

func boolPtr(b bool) *bool { return &b }

// fixtureRules are a fixed subset of check metadata, so goldens do not
// change when the registry's wording does.
func fixtureRules() []Rule {
	return []Rule{
		{ID: "certificate-expired", Severity: reconcile.High, Description: "An endpoint serves an expired certificate.",
			Help: "Renew and deploy; automate renewal (ACME) well before notAfter.", Citations: []string{"RFC 5280 §4.1.2.5", "PCI DSS 4.0 4.2.1"},
			Controls: []string{"PCI DSS 4.0 4.2.1", "HIPAA 164.312(e)(1)"}},
		{ID: "certificate-expiring", Severity: reconcile.Medium, Description: "An endpoint serves a certificate that expires soon. Thresholds come from policy.",
			Help: "Renew and deploy before notAfter.", Citations: []string{"RFC 5280 §4.1.2.5"}, Controls: []string{"PCI DSS 4.0 4.2.1", "HIPAA 164.312(e)(1)"}},
		{ID: "cryptoperiod-exceeded", Severity: reconcile.Medium, Description: "A key is older than its cryptoperiod.",
			Help: "Rotate the key.", Citations: []string{"NIST SP 800-57 Part 1 Rev. 5 §5.3.6 Table 1"}, Controls: []string{"PCI DSS 4.0 3.7", "NIST SP 800-57"}},
		{ID: "key-extractable", Severity: reconcile.High, Description: "An HSM key can leave the HSM.",
			Help: "Regenerate the key as sensitive and non-extractable.", Citations: []string{"PKCS #11 v3.0 §4.9"},
			Controls: []string{"PCI DSS 4.0 3.6", "PCI DSS 4.0 3.7", "NIST SP 800-57", "HIPAA 164.312(a)(2)(iv)"}},
		{ID: "orphaned-key", Severity: reconcile.Low, Description: "An inventory key is not used anywhere.",
			Help: "Destroy it or record why it is kept.", Citations: []string{"NIST SP 800-57 Part 1 Rev. 5 §8.3.4"}, Controls: []string{"PCI DSS 4.0 3.6", "NIST SP 800-57"}},
		{ID: "revoked-but-deployed", Severity: reconcile.Critical, Description: "An endpoint still serves a revoked certificate.",
			Help: "Deploy the replacement certificate.", Citations: []string{"RFC 5280 §5.3.1"}, Controls: []string{"PCI DSS 4.0 3.7", "PCI DSS 4.0 4.2.1"}},
		{ID: "unauthorized-issuance", Severity: reconcile.Critical, Description: "CT logged a certificate for a watched name from an unexpected CA.",
			Help: "Find out who requested it; revoke it if unknown.", Citations: []string{"RFC 6962 §1"}, Controls: []string{"PCI DSS 4.0 3.6", "PCI DSS 4.0 4.2.1", "GDPR Art. 32"}},
		{ID: "unmanaged-key", Severity: reconcile.High, Description: "An endpoint serves a key no inventory holds.",
			Help: "Import the key into the HSM or replace it with one generated there.", Citations: []string{"PCI DSS 4.0 3.6.1"}, Controls: []string{"PCI DSS 4.0 3.6", "NIST SP 800-57", "GDPR Art. 32"}},
		{ID: "weak-crypto", Severity: reconcile.High, Description: "A key, signature or protocol is below policy.",
			Help: "Replace it.", Citations: []string{"NIST SP 800-131A Rev. 2"}, Controls: []string{"PCI DSS 4.0 4.2.1", "NIST SP 800-57", "HIPAA 164.312(e)(1)", "GDPR Art. 32"}},
	}
}

// fixtureReport is a small estate with one of everything a renderer must
// handle: a chain, an expired and an expiring certificate, a failed
// endpoint, HSM, KMS and file keys in every NIST state, a CT
// precertificate from a rogue CA, a suppressed finding, and hostile
// strings (formula, HTML, terminal escapes, Markdown).
func fixtureReport() *Report {
	root := certinfo.Cert{SHA256: fp("root"), SPKISHA256: fp("root-key"), Subject: "CN=Example Root CA,O=Example Corp", Issuer: "CN=Example Root CA,O=Example Corp",
		Serial: "01", NotBefore: day(-3650), NotAfter: day(3650), KeyType: "RSA", KeyBits: 4096, SignatureAlgorithm: "SHA384-RSA", SelfSigned: true}
	ica := certinfo.Cert{SHA256: fp("ica"), SPKISHA256: fp("ica-key"), Subject: "CN=Example Issuing CA 1,O=Example Corp", Issuer: root.Subject,
		Serial: "1001", NotBefore: day(-700), NotAfter: day(1100), KeyType: "ECDSA", KeyBits: 384, Curve: "P-384", SignatureAlgorithm: "SHA384-RSA"}
	www := certinfo.Cert{SHA256: fp("www"), SPKISHA256: fp("www-key"), Subject: "CN=www.example.test", Issuer: ica.Subject, Serial: "7a3f",
		SANs: []string{"www.example.test", "example.test"}, NotBefore: day(-70), NotAfter: day(20), KeyType: "RSA", KeyBits: 2048, SignatureAlgorithm: "ECDSA-SHA384"}
	mail := certinfo.Cert{SHA256: fp("mail"), SPKISHA256: fp("mail-key"), Subject: "CN=mail.example.test", Issuer: "CN=E5,O=Let's Encrypt,C=US", Serial: "03ab",
		SANs: []string{"mail.example.test"}, NotBefore: day(-95), NotAfter: day(-5), KeyType: "ECDSA", KeyBits: 256, Curve: "P-256", SignatureAlgorithm: "ECDSA-SHA384"}
	legacy := certinfo.Cert{SHA256: fp("legacy"), SPKISHA256: fp("legacy-key"), Subject: "CN=<script>alert(1)</script>\x1b[31m|*evil*|,O=@everyone",
		Issuer: "CN=<script>alert(1)</script>\x1b[31m|*evil*|,O=@everyone", Serial: "-01", NotBefore: day(-400), NotAfter: day(330),
		KeyType: "RSA", KeyBits: 1024, SignatureAlgorithm: "SHA1-RSA", SelfSigned: true}
	api := certinfo.Cert{SHA256: fp("api"), SPKISHA256: fp("api-key"), Subject: "CN=api.example.test", Issuer: ica.Subject, Serial: "99",
		SANs: []string{"api.example.test"}, NotBefore: day(-10), NotAfter: day(80), KeyType: "Ed25519", KeyBits: 256, Curve: "Ed25519", SignatureAlgorithm: "ECDSA-SHA384"}

	obs := []records.Observation{
		{Target: "www.example.test:443", Host: "www.example.test", IP: "127.0.1.1", Port: 443, SNI: "www.example.test", Protocol: "tls",
			TLSVersion: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", Group: "X25519MLKEM768", Time: day(-1), Chain: []certinfo.Cert{www, ica, root}},
		{Target: "mail.example.test:25", Host: "mail.example.test", IP: "127.0.1.20", Port: 25, SNI: "mail.example.test", Protocol: "smtp",
			TLSVersion: "TLS 1.2", CipherSuite: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Group: "X25519", Time: day(-1), Chain: []certinfo.Cert{mail}},
		{Target: "legacy.example.test:8443", Host: "legacy.example.test", IP: "127.0.1.7", Port: 8443, SNI: "legacy.example.test", Protocol: "tls",
			TLSVersion: "TLS 1.0", CipherSuite: "TLS_RSA_WITH_AES_128_CBC_SHA", Time: day(-1), Chain: []certinfo.Cert{legacy}},
		{Target: "api.example.test:443", Host: "api.example.test", IP: "::1", Port: 443, SNI: "api.example.test", Protocol: "tls",
			TLSVersion: "TLS 1.3", CipherSuite: "TLS_AES_256_GCM_SHA384", Group: "X25519MLKEM768", Time: day(-1), Chain: []certinfo.Cert{api, ica}},
		{Target: "127.0.1.9:443", Host: "127.0.1.9", IP: "127.0.1.9", Port: 443, Protocol: "tls", Time: day(-1), Chain: []certinfo.Cert{},
			Error: &records.ScanError{Kind: records.ScanTimeout, Message: "no answer within 3s"}},
	}
	keys := []records.Key{
		{Source: "pkcs11", Token: "hsm1", Label: "www-2026", ID: "01", Class: records.ClassPrivateKey, KeyType: "RSA", KeyBits: 2048,
			SPKISHA256: www.SPKISHA256, Sensitive: boolPtr(true), Extractable: boolPtr(false), Usage: []string{"sign", "decrypt"},
			StartDate: dayPtr(-72), Owner: "web platform", Purpose: "TLS server www.example.test", URI: "pkcs11:token=hsm1;object=www-2026;type=private",
			Ref: "hsm1-serial/private_key/01/www-2026/" + www.SPKISHA256[:16]},
		{Source: "pkcs11", Token: "hsm1", Label: "www-2026", ID: "01", Class: records.ClassCertificate, KeyType: "RSA", KeyBits: 2048,
			SPKISHA256: www.SPKISHA256, CertSHA256: www.SHA256, Subject: www.Subject, StartDate: &www.NotBefore, EndDate: &www.NotAfter, Usage: []string{},
			URI: "pkcs11:token=hsm1;object=www-2026;type=cert", Ref: "hsm1-serial/certificate/01/www-2026/" + www.SPKISHA256[:16]},
		{Source: "pkcs11", Token: "hsm1", Label: "kek-payments", ID: "0a", Class: records.ClassSecretKey, KeyType: "AES", KeyBits: 256,
			Sensitive: boolPtr(true), Extractable: boolPtr(true), Usage: []string{"wrap", "unwrap"}, StartDate: dayPtr(-1100), KCV: "a1b2c3",
			Owner: "payments", Purpose: "key wrapping (PAN vault)", Cryptoperiod: "2y", URI: "pkcs11:token=hsm1;object=kek-payments;type=secret-key",
			Ref: "hsm1-serial/secret_key/0a/kek-payments/a1b2c3"},
		{Source: "pkcs11", Token: "hsm2", Label: "backup-signing", ID: "02", Class: records.ClassPrivateKey, KeyType: "ECDSA", KeyBits: 384, Curve: "P-384",
			SPKISHA256: fp("backup-key"), Sensitive: boolPtr(true), Extractable: boolPtr(false), Usage: []string{"sign"}, StartDate: dayPtr(10),
			URI: "pkcs11:token=hsm2;object=backup-signing;type=private", Ref: "hsm2-serial/private_key/02/backup-signing/" + fp("backup-key")[:16]},
		{Source: "pem", Label: "=HYPERLINK(\"https://evil.example\",\"renew\")", Class: records.ClassPrivateKey, KeyType: "RSA", KeyBits: 1024,
			SPKISHA256: legacy.SPKISHA256, Usage: []string{}, Path: "/etc/ssl/private/legacy.key", Owner: "-unknown", Ref: "/etc/ssl/private/legacy.key/private_key///" + legacy.SPKISHA256[:16]},
		{Source: "aws-kms", Token: "eu-west-1", Label: "alias/app-signing", ID: "v3", Class: records.ClassPrivateKey, KeyType: "RSA", KeyBits: 3072,
			SPKISHA256: fp("kms-key"), Usage: []string{"sign", "verify"}, StartDate: dayPtr(-800), EndDate: dayPtr(-30), Owner: "app team", Purpose: "release signing",
			URI: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd", Ref: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd/v3"},
		{Source: "pkcs11", Token: "hsm1", Label: "mail-2025", ID: "05", Class: records.ClassPrivateKey, KeyType: "ECDSA", KeyBits: 256, Curve: "P-256",
			SPKISHA256: mail.SPKISHA256, Sensitive: boolPtr(true), Extractable: boolPtr(false), Usage: []string{"sign"}, StartDate: dayPtr(-96),
			Owner: "messaging", Purpose: "SMTP STARTTLS", URI: "pkcs11:token=hsm1;object=mail-2025;type=private", Ref: "hsm1-serial/private_key/05/mail-2025/" + mail.SPKISHA256[:16]},
	}
	rogue := records.Sighting{Log: "https://ct.example.test/2026h2", LogID: fp("log")[:44], Index: 424242, Timestamp: day(-3), CertSHA256: fp("rogue"),
		SPKISHA256: fp("rogue-key"), Issuer: "CN=Rogue Issuing CA,O=Rogue Ltd", Names: []string{"www.example.test"}, Matched: []string{"example.test"},
		Precert: true, TBSSHA256: fp("rogue-tbs"), Subject: "CN=www.example.test", Serial: "dead", NotBefore: day(-3), NotAfter: day(87)}
	logged := records.Sighting{Log: "https://ct.example.test/2026h2", LogID: fp("log")[:44], Index: 4100, Timestamp: day(-69), CertSHA256: www.SHA256,
		SPKISHA256: www.SPKISHA256, Issuer: www.Issuer, Names: []string{"example.test", "www.example.test"}, Matched: []string{"example.test"},
		TBSSHA256: fp("www-tbs"), Subject: www.Subject, Serial: www.Serial, NotBefore: www.NotBefore, NotAfter: www.NotAfter}

	findings := []reconcile.Finding{
		{Check: "unauthorized-issuance", Severity: reconcile.Critical, Subject: "www.example.test", SPKISHA256: rogue.SPKISHA256, CertSHA256: rogue.CertSHA256,
			Endpoint: "ct://https://ct.example.test/2026h2/424242", Message: "CT logged a precertificate for www.example.test from Rogue Issuing CA, which policy does not allow",
			Controls: []string{"PCI DSS 4.0 3.6", "PCI DSS 4.0 4.2.1", "GDPR Art. 32"}, FirstSeen: day(-3),
			Evidence: map[string]any{"issuer": rogue.Issuer, "log": rogue.Log, "index": float64(424242), "logged": "2026-11-22T10:00:00Z"},
			Source:   "https://ct.example.test/2026h2#424242"},
		{Check: "certificate-expired", Severity: reconcile.High, Subject: mail.Subject, SPKISHA256: mail.SPKISHA256, CertSHA256: mail.SHA256,
			Endpoint: "smtp://mail.example.test:25 (127.0.1.20)", Message: "certificate expired 5 days ago (2026-11-20)",
			Controls: []string{"PCI DSS 4.0 4.2.1", "HIPAA 164.312(e)(1)"}, FirstSeen: day(-4), Evidence: map[string]any{"not_after": "2026-11-20T10:00:00Z"}},
		{Check: "key-extractable", Severity: reconcile.High, Subject: "hsm1/kek-payments", Message: "secret key can be extracted (CKA_EXTRACTABLE true)",
			Controls: []string{"PCI DSS 4.0 3.6", "PCI DSS 4.0 3.7", "NIST SP 800-57", "HIPAA 164.312(a)(2)(iv)"}, FirstSeen: day(-30),
			Evidence: map[string]any{"token": "hsm1", "id": "0a", "extractable": true, "sensitive": true}, Source: "pkcs11:token=hsm1;object=kek-payments;type=secret-key"},
		{Check: "weak-crypto", Severity: reconcile.High, Subject: legacy.Subject, SPKISHA256: legacy.SPKISHA256, CertSHA256: legacy.SHA256,
			Endpoint: "tls://legacy.example.test:8443 (127.0.1.7)", Message: "RSA-1024 key, SHA1-RSA signature, TLS 1.0",
			Controls: []string{"PCI DSS 4.0 4.2.1", "NIST SP 800-57", "HIPAA 164.312(e)(1)", "GDPR Art. 32"}, FirstSeen: day(-60)},
		{Check: "weak-crypto", Severity: reconcile.High, Subject: "=HYPERLINK(\"https://evil.example\",\"renew\")", SPKISHA256: legacy.SPKISHA256,
			Message: "-inventory key is weak: RSA-1024", Controls: []string{"PCI DSS 4.0 4.2.1", "NIST SP 800-57"}, FirstSeen: day(-60),
			Source: "/etc/ssl/private/legacy.key"},
		{Check: "unmanaged-key", Severity: reconcile.High, Subject: api.Subject, SPKISHA256: api.SPKISHA256, CertSHA256: api.SHA256,
			Endpoint: "tls://api.example.test:443 (::1)", Message: "served key is in no inventory", Controls: []string{"PCI DSS 4.0 3.6", "NIST SP 800-57", "GDPR Art. 32"},
			FirstSeen: day(-9), Suppressed: true, SuppressedBy: "migration to hsm1 tracked in SEC-1234",
			Evidence: map[string]any{"issuer": api.Issuer, "key": "Ed25519", "not_after": "2027-02-13T10:00:00Z"}},
		{Check: "certificate-expiring", Severity: reconcile.Medium, Subject: www.Subject, SPKISHA256: www.SPKISHA256, CertSHA256: www.SHA256,
			Endpoint: "tls://www.example.test:443 (127.0.1.1)", Message: "certificate expires in 20 days (2026-12-15)",
			Controls: []string{"PCI DSS 4.0 4.2.1", "HIPAA 164.312(e)(1)"}, FirstSeen: day(-10), Evidence: map[string]any{"not_after": "2026-12-15T10:00:00Z", "days_left": float64(20)}},
		{Check: "cryptoperiod-exceeded", Severity: reconcile.Medium, Subject: "hsm1/kek-payments", Message: "key is 1100 days old; its cryptoperiod is 730 days",
			Controls: []string{"PCI DSS 4.0 3.7", "NIST SP 800-57"}, FirstSeen: day(-370),
			Evidence: map[string]any{"start_date": "2023-11-21T10:00:00Z", "cryptoperiod_days": float64(730), "basis": "config metadata 2y"},
			Source:   "keyaudit.yaml:42"},
		{Check: "orphaned-key", Severity: reconcile.Low, Subject: "hsm2/backup-signing", SPKISHA256: fp("backup-key"), Message: "key is not served anywhere nor logged in CT",
			Controls: []string{"PCI DSS 4.0 3.6", "NIST SP 800-57"}, FirstSeen: day(-2), Source: "pkcs11:token=hsm2;object=backup-signing;type=private"},
	}
	return &Report{
		Tool:        Tool{Name: "keyaudit", Version: "v0.9.0-test"},
		GeneratedAt: fixedNow,
		Run: RunInfo{ID: 42, Kind: "reconcile", Group: "nightly", Status: "partial", Started: fixedNow.Add(-2 * time.Minute), Ended: fixedNow.Add(-time.Minute),
			Note: "9 findings (2 new, 0 resolved) from 4 inputs",
			Stages: []Stage{
				{Name: "inventory", RunID: 38, Status: StageComplete},
				{Name: "scan", RunID: 39, Status: StageComplete, Note: "5 endpoints, 1 failed"},
				{Name: "caa", RunID: 40, Status: StageComplete},
				{Name: "ct", RunID: 41, Status: StagePartial, Note: "log https://ct2.example.test unreachable"},
				{Name: "reconcile", RunID: 42, Status: StagePartial},
			}},
		Rules:        fixtureRules(),
		Findings:     findings,
		Keys:         keys,
		Observations: obs,
		CAA: []records.CAAResult{{Name: "example.test", RelevantName: "example.test", Reason: "only letsencrypt.org may issue",
			Records: []records.CAARecord{{Flags: 0, Tag: "issue", Value: "letsencrypt.org"}}, Iodef: []string{"mailto:security@example.test"},
			Permits: &records.CAAPermits{CAs: []string{"letsencrypt.org"}}, Time: day(-1)}},
		Sightings: []records.Sighting{logged, rogue},
		Resolved: []reconcile.Transition{{Fingerprint: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Event: reconcile.EventResolved,
			Evidence: map[string]any{"reason": "rescanned", "detail": "re-scanned 2026-11-24T10:00:00Z (run 39): now serves CN=old.example.test (cert 5f5f5f5f5f5f5f5f…, key 6e6e6e6e6e6e6e6e…)"},
			Finding:  reconcile.Finding{Check: "weak-key", Severity: reconcile.High, Subject: "CN=old.example.test", Endpoint: "tls://old.example.test:443 (192.0.2.9)"}}},
	}
}
