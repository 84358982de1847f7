package estate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, mode)
}

func chownTo(path, username string) error {
	u, err := user.Lookup(username)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// openPath makes dir and its ancestors inside the temp directory
// traversable, so daemons that drop privileges (postfix, dovecot) can
// reach their files under a test's 0700 temp dir.
func openPath(dir string) error {
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); strings.HasPrefix(d, tmp+string(filepath.Separator)); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			return fmt.Errorf("estate: %w", err)
		}
	}
	return nil
}

// StartPostfix runs a real Postfix (3.x, from Debian) in the foreground
// with its configuration, queue and data under dir, listening only on
// addr (a loopback ip:port), offering STARTTLS with the given PEM chain
// and key. Mail to anything is refused: it is a TLS endpoint, not a relay.
func StartPostfix(ctx context.Context, dir, addr string, chainPEM, keyPEM []byte) (*Process, error) {
	return startPostfix(ctx, dir, addr, chainPEM, keyPEM, nil)
}

// MailDelivery makes a Postfix deliver: mail for Domains goes over LMTP
// to LMTPAddr (a Dovecot's), everything else is refused. With
// SubmissionAddr and SASLAddr, Postfix also listens on SubmissionAddr,
// where mail is accepted only after STARTTLS and SMTP AUTH, checked by
// the Dovecot auth service listening on SASLAddr.
type MailDelivery struct {
	Domains        []string
	LMTPAddr       string
	SubmissionAddr string
	SASLAddr       string
}

// StartPostfixDelivering runs a real Postfix on addr, as StartPostfix
// does, that accepts mail from loopback for d.Domains and hands it to
// d.LMTPAddr.
func StartPostfixDelivering(ctx context.Context, dir, addr string, chainPEM, keyPEM []byte, d MailDelivery) (*Process, error) {
	if len(d.Domains) == 0 || d.LMTPAddr == "" {
		return nil, errors.New("estate: a delivering Postfix needs domains and an LMTP address")
	}
	return startPostfix(ctx, dir, addr, chainPEM, keyPEM, &d)
}

func startPostfix(ctx context.Context, dir, addr string, chainPEM, keyPEM []byte, deliver *MailDelivery) (*Process, error) {
	if _, err := exec.LookPath("postfix"); err != nil {
		if _, err2 := os.Stat("/usr/sbin/postfix"); err2 != nil {
			return nil, fmt.Errorf("estate: postfix not installed: %w", err)
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if err := PortFree(addr); err != nil {
		return nil, err
	}
	etc, queue, data := filepath.Join(dir, "etc"), filepath.Join(dir, "queue"), filepath.Join(dir, "data")
	_ = os.RemoveAll(queue)
	_ = os.RemoveAll(data)
	for _, d := range []string{etc, queue, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// key and chain in one file: key first, then the chain.
	if err := writeFile(filepath.Join(etc, "tls.pem"), append(append([]byte{}, keyPEM...), chainPEM...), 0o600); err != nil {
		return nil, err
	}
	mainCF := strings.Join([]string{
		"compatibility_level = 3.6",
		"queue_directory = " + queue,
		"data_directory = " + data,
		"command_directory = /usr/sbin",
		"daemon_directory = /usr/lib/postfix/sbin",
		"shlib_directory = /usr/lib/postfix",
		"mail_owner = postfix",
		"myhostname = mail.example.test",
		"mydestination =",
		"inet_interfaces = loopback-only",
		"inet_protocols = ipv4",
		"mynetworks = 127.0.0.0/8",
		"default_transport = error:keyaudit demo does not deliver mail",
		"relay_transport = error:keyaudit demo does not deliver mail",
		"local_transport = error:keyaudit demo does not deliver mail",
		"smtpd_tls_security_level = may",
		"smtpd_tls_chain_files = " + filepath.Join(etc, "tls.pem"),
		"smtpd_tls_loglevel = 0",
		"maillog_file = /dev/stdout",
		"alias_maps =",
		"alias_database =",
		"",
	}, "\n")
	var submission string
	if deliver != nil {
		mainCF += strings.Join([]string{
			"virtual_mailbox_domains = " + strings.Join(deliver.Domains, " "),
			"virtual_transport = lmtp:inet:" + deliver.LMTPAddr,
			"smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination",
			"",
		}, "\n")
		if (deliver.SubmissionAddr == "") != (deliver.SASLAddr == "") {
			return nil, errors.New("estate: a Postfix submission listener needs both its address and a SASL address")
		}
		if deliver.SubmissionAddr != "" {
			if err := PortFree(deliver.SubmissionAddr); err != nil {
				return nil, err
			}
			mainCF += strings.Join([]string{
				"smtpd_sasl_type = dovecot",
				"smtpd_sasl_path = inet:" + deliver.SASLAddr,
				"",
			}, "\n")
			// Only authenticated clients, and only after STARTTLS: no
			// permit_mynetworks here, though the client is on loopback.
			submission = deliver.SubmissionAddr + " inet n - n - - smtpd" +
				" -o smtpd_sasl_auth_enable=yes -o smtpd_tls_security_level=encrypt -o smtpd_tls_auth_only=yes" +
				" -o smtpd_relay_restrictions=permit_sasl_authenticated,reject" +
				" -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject"
		}
	}
	if err := writeFile(filepath.Join(etc, "main.cf"), []byte(mainCF), 0o644); err != nil {
		return nil, err
	}
	masterCF := strings.Join([]string{
		host + ":" + port + " inet n - n - - smtpd",
		"pickup    unix  n       -       n       60      1       pickup",
		"cleanup   unix  n       -       n       -       0       cleanup",
		"qmgr      unix  n       -       n       300     1       qmgr",
		"tlsmgr    unix  -       -       n       1000?   1       tlsmgr",
		"rewrite   unix  -       -       n       -       -       trivial-rewrite",
		"bounce    unix  -       -       n       -       0       bounce",
		"defer     unix  -       -       n       -       0       bounce",
		"trace     unix  -       -       n       -       0       bounce",
		"verify    unix  -       -       n       -       1       verify",
		"flush     unix  n       -       n       1000?   0       flush",
		"proxymap  unix  -       -       n       -       -       proxymap",
		"smtp      unix  -       -       n       -       -       smtp",
		"showq     unix  n       -       n       -       -       showq",
		"error     unix  -       -       n       -       -       error",
		"retry     unix  -       -       n       -       -       error",
		"discard   unix  -       -       n       -       -       discard",
		"anvil     unix  -       -       n       -       1       anvil",
		"scache    unix  -       -       n       -       1       scache",
		"postlog   unix-dgram n  -       n       -       1       postlogd",
		"lmtp      unix  -       -       n       -       -       lmtp",
		"",
	}, "\n")
	if submission != "" {
		masterCF += submission + "\n"
	}
	if err := writeFile(filepath.Join(etc, "master.cf"), []byte(masterCF), 0o644); err != nil {
		return nil, err
	}
	if err := openPath(dir); err != nil {
		return nil, err
	}
	if err := chownTo(data, "postfix"); err != nil {
		return nil, fmt.Errorf("estate: postfix data dir: %w", err)
	}
	setup := exec.CommandContext(ctx, "postfix", "-c", etc, "post-install", "create-missing")
	if out, err := setup.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("estate: postfix post-install: %v: %s", err, out)
	}
	p, err := Start(dir, "postfix", "-c", etc, "start-fg")
	if err != nil {
		return nil, err
	}
	p.stop = func() error { return exec.Command("postfix", "-c", etc, "stop").Run() }
	if err := WaitTCP(ctx, p, addr, 15*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	if deliver != nil && deliver.SubmissionAddr != "" {
		if err := WaitTCP(ctx, p, deliver.SubmissionAddr, 15*time.Second); err != nil {
			p.Stop()
			return nil, err
		}
	}
	return p, nil
}

// StartDovecot runs a real Dovecot (2.3) in the foreground serving IMAP
// on imapAddr and POP3 on pop3Addr with STARTTLS, state under dir.
func StartDovecot(ctx context.Context, dir, imapAddr, pop3Addr string, chainPEM, keyPEM []byte) (*Process, error) {
	return StartDovecotLMTP(ctx, dir, imapAddr, pop3Addr, "", chainPEM, keyPEM)
}

// StartDovecotLMTP is StartDovecot with an LMTP listener on lmtpAddr (same
// host as IMAP; "" for none) delivering to the users' maildirs, which
// IMAP then serves: any user name, the password DovecotPassword.
func StartDovecotLMTP(ctx context.Context, dir, imapAddr, pop3Addr, lmtpAddr string, chainPEM, keyPEM []byte) (*Process, error) {
	return StartDovecotListening(ctx, dir, DovecotListeners{IMAP: imapAddr, POP3: pop3Addr, LMTP: lmtpAddr}, chainPEM, keyPEM)
}

// DovecotListeners are a Dovecot's addresses, all on one host: IMAP and
// POP3 (both required), LMTP and the auth service (for Postfix SASL,
// over TCP) when set.
type DovecotListeners struct {
	IMAP, POP3, LMTP, Auth string
}

// StartDovecotListening is StartDovecot with the listeners l.
func StartDovecotListening(ctx context.Context, dir string, l DovecotListeners, chainPEM, keyPEM []byte) (*Process, error) {
	imapAddr, pop3Addr, lmtpAddr := l.IMAP, l.POP3, l.LMTP
	ih, ip, err := net.SplitHostPort(imapAddr)
	if err != nil {
		return nil, err
	}
	ph, pp, err := net.SplitHostPort(pop3Addr)
	if err != nil {
		return nil, err
	}
	if ih != ph {
		return nil, fmt.Errorf("estate: dovecot listens on one address: %s vs %s", ih, ph)
	}
	for _, a := range []string{imapAddr, pop3Addr} {
		if err := PortFree(a); err != nil {
			return nil, err
		}
	}
	if err := writeFile(filepath.Join(dir, "cert.pem"), chainPEM, 0o644); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		return nil, err
	}
	run := filepath.Join(dir, "run")
	_ = os.RemoveAll(run)
	if err := os.MkdirAll(run, 0o755); err != nil {
		return nil, err
	}
	protocols, lmtp := "imap pop3", []string{}
	if lmtpAddr != "" {
		lh, lp, err := net.SplitHostPort(lmtpAddr)
		if err != nil || lh != ih {
			return nil, fmt.Errorf("estate: dovecot LMTP address %q: want host:port on %s", lmtpAddr, ih)
		}
		if err := PortFree(lmtpAddr); err != nil {
			return nil, err
		}
		protocols += " lmtp"
		lmtp = []string{"service lmtp {", "inet_listener lmtp {", "port = " + lp, "}", "}", "postmaster_address = postmaster@example.test"}
	}
	if l.Auth != "" {
		ah, ap, err := net.SplitHostPort(l.Auth)
		if err != nil || ah != ih {
			return nil, fmt.Errorf("estate: dovecot auth address %q: want host:port on %s", l.Auth, ih)
		}
		if err := PortFree(l.Auth); err != nil {
			return nil, err
		}
		lmtp = append(lmtp, "service auth {", "inet_listener {", "port = "+ap, "}", "}")
	}
	conf := strings.Join(append([]string{
		"protocols = " + protocols,
		"listen = " + ih,
		"base_dir = " + run,
		"state_dir = " + filepath.Join(dir, "state"),
		"log_path = /dev/stderr",
		"ssl = yes",
		"ssl_cert = <" + filepath.Join(dir, "cert.pem"),
		"ssl_key = <" + filepath.Join(dir, "key.pem"),
		"disable_plaintext_auth = yes",
		"mail_location = maildir:" + filepath.Join(dir, "mail") + "/%u",
		// The mailboxes belong to the dovecot system user.
		"first_valid_uid = 1",
		"first_valid_gid = 1",
		"passdb {",
		"driver = static",
		"args = password=" + DovecotPassword,
		"}",
		"userdb {",
		"driver = static",
		"args = uid=dovecot gid=dovecot home=" + filepath.Join(dir, "mail") + "/%u",
		"}",
		"service imap-login {",
		"inet_listener imap {",
		"port = " + ip,
		"}",
		"inet_listener imaps {",
		"port = 0",
		"}",
		"}",
		"service pop3-login {",
		"inet_listener pop3 {",
		"port = " + pp,
		"}",
		"inet_listener pop3s {",
		"port = 0",
		"}",
		"}",
	}, append(lmtp, "")...), "\n")
	if err := openPath(dir); err != nil {
		return nil, err
	}
	mailDir := filepath.Join(dir, "mail")
	if err := os.MkdirAll(mailDir, 0o750); err != nil {
		return nil, err
	}
	if err := chownTo(mailDir, "dovecot"); err != nil {
		return nil, fmt.Errorf("estate: dovecot mail dir: %w", err)
	}
	cfgPath := filepath.Join(dir, "dovecot.conf")
	if err := writeFile(cfgPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p, err := Start(dir, "dovecot", "-F", "-c", cfgPath)
	if err != nil {
		return nil, err
	}
	if err := WaitTCP(ctx, p, imapAddr, 15*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	if err := WaitTCP(ctx, p, pop3Addr, 15*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	for _, a := range []string{lmtpAddr, l.Auth} {
		if a == "" {
			continue
		}
		if err := WaitTCP(ctx, p, a, 15*time.Second); err != nil {
			p.Stop()
			return nil, err
		}
	}
	return p, nil
}

// DovecotPassword is every Dovecot user's password (a static passdb:
// the estate's mailboxes hold nothing secret).
const DovecotPassword = "unused-demo-password"

// StartKnot runs a real Knot DNS (knotd) serving zones (origin → zone
// file text) on addr, with its state under dir.
func StartKnot(ctx context.Context, dir, addr string, zones map[string]string) (*Process, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var zcfg strings.Builder
	for origin, text := range zones {
		origin = strings.TrimSuffix(origin, ".")
		file := filepath.Join(dir, origin+".zone")
		if err := writeFile(file, []byte(text), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(&zcfg, "  - domain: %s.\n    file: %s\n", origin, file)
	}
	conf := fmt.Sprintf(`server:
  rundir: %[1]s
  listen: %[2]s@%[3]s
  user: root:root
database:
  storage: %[1]s/db
template:
  - id: default
    storage: %[1]s
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
log:
  - target: stderr
    any: warning
zone:
%[4]s`, dir, host, port, zcfg.String())
	if err := PortFree(addr); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "knot.conf")
	if err := writeFile(cfgPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	knotd := "knotd"
	if _, err := exec.LookPath(knotd); err != nil {
		knotd = "/usr/sbin/knotd"
	}
	p, err := Start(dir, knotd, "-c", cfgPath)
	if err != nil {
		return nil, err
	}
	// knotd also listens on TCP at the same address.
	if err := WaitTCP(ctx, p, addr, 10*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}
