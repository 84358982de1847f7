package estate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// AuditOptions configure the parts of the demo that a full audit needs
// beyond the servers: an HSM token, a CT log, and the config file.
type AuditOptions struct {
	Dir string
	// ToolsBin holds TesseraCT's posix binary; without it there is no CT
	// stage.
	ToolsBin string
	// CTAddr is where the log takes submissions; CTMonitorAddr where its
	// tiles are served.
	CTAddr, CTMonitorAddr string
	// ReportsDir receives the audit's reports.
	ReportsDir string
	// KMIPAddr and KMSAddr, when set, are where a KMIP server (PyKMIP)
	// and an AWS KMS emulator (local-kms) listen, inventoried beside the
	// token (StartKeyManagers).
	KMIPAddr, KMSAddr string
	// Notify adds owners and a route whose exec sink appends every
	// notification to DIR/notifications.jsonl.
	Notify bool
}

// Audit is the audit side of a running demo.
type Audit struct {
	HSM  *SoftHSM
	CT   *CTLog
	Keys *KeyManagers
	// Rogue is the CA nobody approved whose certificate the CT log
	// holds; tests issue more from it.
	Rogue  *CA
	Config string // path of the generated keyaudit.yaml
}

// Close stops the CT log and the key managers.
func (a *Audit) Close() {
	if a.CT != nil {
		a.CT.Close()
	}
	if a.Keys != nil {
		a.Keys.Close()
	}
}

// SetupAudit creates the demo's SoftHSM token (keys of some served
// certificates — others stay unmanaged — plus an orphaned key pair, an
// extractable key and a key-encryption key), starts a CT log holding the
// www.example.test certificate and a rogue certificate for
// shop.example.test, and writes a keyaudit config auditing all of it.
func (d *Demo) SetupAudit(ctx context.Context, o AuditOptions) (*Audit, error) {
	a := &Audit{}
	hsmDir := filepath.Join(o.Dir, "softhsm")
	hsm, err := NewSoftHSM(ctx, hsmDir, "demo")
	if err != nil {
		return nil, err
	}
	a.HSM = hsm
	managed := []struct{ name, id string }{{"rsa", "01"}, {"ecdsa", "02"}, {"www", "03"}, {"mail", "04"}, {"postfix", "05"}}
	for _, m := range managed {
		c, ok := d.Leaves[m.name]
		if !ok {
			continue
		}
		if err := hsm.ImportKey(ctx, hsmDir, c.PrivateKey, c.Certificate[0], m.name+".example.test", m.id, true); err != nil {
			return nil, err
		}
	}
	if c, ok := d.Leaves["legacy"]; ok {
		// Imported without CKA_SENSITIVE: its value could be read out.
		if err := hsm.ImportKey(ctx, hsmDir, c.PrivateKey, nil, "legacy.example.test", "06", false); err != nil {
			return nil, err
		}
	}
	if err := hsm.GenerateKeyPair(ctx, "EC:prime256v1", "retired-2023", "10"); err != nil {
		return nil, err
	}
	if err := hsm.GenerateSecret(ctx, "AES:32", "kek", true); err != nil {
		return nil, err
	}

	var ctBlock string
	if o.ToolsBin != "" {
		if _, err := os.Stat(filepath.Join(o.ToolsBin, "posix")); err == nil {
			rogue, err := NewRootOrg("Rogue Root", "Rogue Trust Services", ECDSA256)
			if err != nil {
				return nil, err
			}
			rogueInter, err := rogue.Intermediate("Rogue Issuing CA", ECDSA256)
			if err != nil {
				return nil, err
			}
			a.Rogue = rogueInter
			shop, err := rogueInter.Issue(Leaf{CN: "shop.example.test", Key: ECDSA256})
			if err != nil {
				return nil, err
			}
			ctDir := filepath.Join(o.Dir, "ctlog")
			_ = os.RemoveAll(ctDir) // a fresh log each time
			if err := os.MkdirAll(ctDir, 0o755); err != nil {
				return nil, err
			}
			roots := append(append([]byte{}, d.RootPEM...), PEMChain([][]byte{rogue.Cert.Raw})...)
			l, err := StartCTLog(ctx, filepath.Join(o.ToolsBin, "posix"), ctDir, o.CTAddr, o.CTMonitorAddr, roots)
			if err != nil {
				return nil, err
			}
			a.CT = l
			www := d.Leaves["www"]
			for i, chain := range [][][]byte{www.Certificate, shop.Certificate} {
				if err := l.AddChain(ctx, chain); err != nil {
					return nil, fmt.Errorf("submit chain %d (%d certificates): %w", i, len(chain), err)
				}
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := l.WaitSize(wctx, 2); err != nil {
				return nil, err
			}
			ctBlock = fmt.Sprintf(`
# Certificate Transparency: the demo's static-ct-api log (TesseraCT).
ct:
  logs:
    - url: %s
      key: %s
      type: static
      origin: localhost/demo
ct-sync:
  from: start
`, l.MonitorURL, l.KeyFile)
		}
	}

	var kmBlock string
	if o.KMIPAddr != "" {
		km, err := StartKeyManagers(ctx, filepath.Join(o.Dir, "keymanagers"), o.KMIPAddr, o.KMSAddr)
		if err != nil {
			return nil, err
		}
		a.Keys = km
		kmBlock = fmt.Sprintf(`
    # A KMIP key manager (PyKMIP), client certificate authentication.
    - kmip: kmip://%s
      cert-file: %s
      key-file: %s
      ca-file: %s
      owner: payments-team
    # AWS KMS (an emulator here; credentials from the standard AWS chain).
    - awskms: awskms://%s
      endpoint: %s`, km.KMIP.Addr, km.KMIP.ClientCert, km.KMIP.ClientKey, km.KMIP.CAFile, km.KMS.Region, km.KMS.Endpoint)
	}

	var validityBlock, validityTarget string
	if d.Revocation != nil {
		rootFile := filepath.Join(o.Dir, "demo-root.pem")
		if err := os.WriteFile(rootFile, d.RootPEM, 0o644); err != nil {
			return nil, err
		}
		validityTarget = "\n    - mismatch.example.test"
		validityBlock = fmt.Sprintf(`
# Validity: the demo root is a private trust anchor; certificate URLs are
# fetched only inside the estate's /27 (its OCSP responder and CRL).
trust:
  bundles: [%s]
validity:
  fetch-scope: [%s]
`, rootFile, d.ValidityScope())
	}

	var notifyBlock string
	if o.Notify {
		notifyBlock = fmt.Sprintf(`
# Who owns what, and who is told: web-team's critical findings and every
# failed stage go to a hook that appends them to notifications.jsonl.
owners:
  - name: web-team
    contacts: [web-team@example.test]
    domains: [example.test]
notify:
  sinks:
    log: {exec: [/bin/sh, -c, 'cat >> %s; echo >> %s'], timeout: 10s}
  routes:
    - {name: web, owners: [web-team], severity: critical, sinks: [log]}
    - {name: stages, owners: ["-"], events: [stage-failed], sinks: [log]}
`, filepath.Join(o.Dir, "notifications.jsonl"), filepath.Join(o.Dir, "notifications.jsonl"))
	}

	cfg := fmt.Sprintf(`# keyaudit config for the demo estate, written by keyaudit-demo.
store: %[1]s/keyaudit.db

watch: [example.test]

inventory:
  sources:
    - pkcs11: "%[2]s"
      owner: platform-team
      purpose: tls-server%[11]s
  metadata:
    - label: "retired-*"
      owner: payments-team
      purpose: code-signing
    - label: "legacy.example.test"
      owner: legacy-team
      cryptoperiod: 90d

scan:
  targets:
    - %[7]s.0/27
    - www.example.test
    - mail.example.test:25
    - imap.example.test:143
    - legacy.example.test:8443
    - "[::1]:%[8]d"
    - mysql://%[7]s.10:3306
    - xmpp://%[7]s.10:5222%[9]s
  ports: 443,8443,25,143,110,21,5432,389
  resolver: [%[3]s]
  timeout: 3s

caa:
  resolver: [%[3]s]
  cas:
    - name: keyaudit demo CA
      organizations: [keyaudit demo]
      identifiers: [%[4]s]
%[5]s%[10]s
policy:
  allowed-cas: [%[4]s]
  min-rsa-bits: 2048

suppressions:
  - check: no-pqc-key-exchange
    endpoint: "*%[7]s.2[01]*"
    reason: Postfix and Dovecot on Debian 12 (OpenSSL 3.0) have no ML-KEM yet
    until: %[12]s

audit:
  fail-on: high
  reports:
    - {format: html, output: %[6]s/audit.html}
    - {format: sarif, output: %[6]s/keyaudit.sarif}
    - {format: cbom, output: %[6]s/cbom.json}
    - {format: junit, output: %[6]s/junit.xml}
    - {format: markdown, output: %[6]s/audit.md}
    - {format: json, output: %[6]s/audit.json}
    - {format: prometheus, output: %[6]s/keyaudit.prom}
`, o.Dir, hsm.URI(), d.DNSAddr, DemoCAAIdentifier, ctBlock, o.ReportsDir, d.Net, d.V6Port, validityTarget, validityBlock, kmBlock,
		time.Now().UTC().AddDate(1, 0, 0).Truncate(24*time.Hour).Format(time.RFC3339))
	cfg += notifyBlock
	a.Config = filepath.Join(o.Dir, "keyaudit.yaml")
	if err := os.WriteFile(a.Config, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	return a, nil
}
