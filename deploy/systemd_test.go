package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/internal/testlab"
)

// unit is a parsed systemd unit file: section → key → values in order
// (a key may repeat, e.g. LoadCredential=, SystemCallFilter=).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, files ...string) unit {
	t.Helper()
	u := unit{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		section := ""
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			case strings.HasPrefix(line, "["):
				section = strings.Trim(line, "[]")
				if u[section] == nil {
					u[section] = map[string][]string{}
				}
			default:
				k, v, ok := strings.Cut(line, "=")
				if !ok || section == "" {
					t.Fatalf("%s: unparsed line %q", file, line)
				}
				u[section][k] = append(u[section][k], v)
			}
		}
	}
	return u
}

// one returns the single value of key, failing when it is absent or set
// more than once.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s: %d values %q, want one", section, key, len(v), v)
	}
	return v[0]
}

// systemdAnalyze finds systemd-analyze, or skips (fails under CI=true).
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("systemd-analyze is required under CI=true (Debian package systemd): %v", err)
		}
		t.Skipf("systemd-analyze not installed (Debian package systemd): %v", err)
	}
	return p
}

// verify runs systemd-analyze verify on the unit files of dir and
// returns what it printed: it exits 0 on unknown keys and values it
// ignores, so any output at all is a finding.
func verify(t *testing.T, analyze, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command(analyze, "verify", filepath.Join(dir, "keyaudit-audit.service"), filepath.Join(dir, "keyaudit-audit.timer"))
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// copyUnits copies deploy/systemd (units and the drop-in folder) to a
// temp dir, so a test may break a copy.
func copyUnits(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("systemd")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	abs, err := filepath.Abs("systemd")
	if err != nil {
		t.Fatal(err)
	}
	// The drop-in beside the service is read too (keyaudit-audit.service.d/).
	if out, err := verify(t, analyze, abs); err != nil || out != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The check sees a misspelt hardening directive, in the unit and in
	// the drop-in, and a timer that never elapses: otherwise a silent
	// verify proves nothing.
	for _, c := range []struct{ file, old, new, want string }{
		{"keyaudit-audit.service", "ProtectSystem=strict", "ProtectSystm=strict", "Unknown key"},
		{"keyaudit-audit.service.d/postgresql.conf", "LoadCredential=", "LoadCredentail=", "Unknown key"},
		{"keyaudit-audit.timer", "OnCalendar=*-*-* 06:00:00", "OnCalendar=daily at six", "calendar"},
	} {
		dir := copyUnits(t)
		p := filepath.Join(dir, c.file)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(c.old)) {
			t.Fatalf("%s has no %q", c.file, c.old)
		}
		if err := os.WriteFile(p, bytes.Replace(b, []byte(c.old), []byte(c.new), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, _ := verify(t, analyze, dir); !strings.Contains(out, c.want) {
			t.Errorf("%s with %q: verify printed %q, want %q", c.file, c.new, out, c.want)
		}
	}
}

func TestSystemdHardening(t *testing.T) {
	svc := parseUnit(t, "systemd/keyaudit-audit.service")
	for key, want := range map[string]string{
		"Type":                   "oneshot",
		"User":                   "keyaudit",
		"NoNewPrivileges":        "yes",
		"ProtectSystem":          "strict",
		"ProtectHome":            "yes",
		"PrivateTmp":             "yes",
		"PrivateDevices":         "yes",
		"ProtectKernelTunables":  "yes",
		"ProtectKernelModules":   "yes",
		"ProtectControlGroups":   "yes",
		"RestrictSUIDSGID":       "yes",
		"MemoryDenyWriteExecute": "yes",
		"CapabilityBoundingSet":  "",
		"AmbientCapabilities":    "",
		"UMask":                  "0027",
		"StateDirectory":         "keyaudit keyaudit/reports",
	} {
		if got := svc.one(t, "Service", key); got != want {
			t.Errorf("%s=%s, want %s", key, got, want)
		}
	}
	// The PIN is a credential copied by systemd, never an Environment=.
	creds := svc["Service"]["LoadCredential"]
	if len(creds) != 1 || creds[0] != "pkcs11-pin:/etc/keyaudit/credentials/pkcs11-pin" {
		t.Errorf("LoadCredential %q", creds)
	}
	for _, e := range svc["Service"]["Environment"] {
		if u := strings.ToUpper(e); strings.Contains(u, "PIN") || strings.Contains(u, "STORE") || strings.Contains(u, "PASSWORD") {
			t.Errorf("secret in Environment=%s", e)
		}
	}
	drop := parseUnit(t, "systemd/keyaudit-audit.service.d/postgresql.conf")
	if got := drop.one(t, "Service", "LoadCredential"); got != "store-url:/etc/keyaudit/credentials/store-url" {
		t.Errorf("drop-in LoadCredential=%s", got)
	}

	timer := parseUnit(t, "systemd/keyaudit-audit.timer")
	if got := timer.one(t, "Timer", "Unit"); got != "keyaudit-audit.service" {
		t.Errorf("timer starts %s", got)
	}
	if timer.one(t, "Timer", "Persistent") != "yes" || timer.one(t, "Install", "WantedBy") != "timers.target" {
		t.Errorf("timer: %v", timer)
	}
	users, err := os.ReadFile("systemd/keyaudit.sysusers.conf")
	if err != nil || !strings.HasPrefix(strings.TrimSpace(lastLine(string(users))), "u keyaudit ") {
		t.Errorf("keyaudit.sysusers.conf does not create the keyaudit user: %v %q", err, users)
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestSystemdExecStart runs the service's command line as systemd would
// hand it to /bin/sh, with a stand-in keyaudit: it runs audit, writes
// reports into the state directory, and a store URL credential reaches
// keyaudit through the environment, not argv.
func TestSystemdExecStart(t *testing.T) {
	svc := parseUnit(t, "systemd/keyaudit-audit.service")
	line := svc.one(t, "Service", "ExecStart")
	prefix := "/bin/sh -ec '"
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, "'") {
		t.Fatalf("ExecStart is not a /bin/sh -ec '…' line: %s", line)
	}
	script := line[len(prefix) : len(line)-1]
	if strings.Contains(strings.ReplaceAll(script, "$$", ""), "$") {
		t.Errorf("ExecStart has a $ systemd would expand itself (write $$): %s", script)
	}
	script = strings.ReplaceAll(script, "$$", "$") // systemd's unescaping
	script = strings.ReplaceAll(script, "%%", "%")

	dir := t.TempDir()
	fake := filepath.Join(dir, "keyaudit")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nprintf 'store=%s\\n' \"${KEYAUDIT_STORE-unset}\"\nprintf 'arg=%s\\n' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(script, "exec /usr/local/bin/keyaudit ") {
		t.Fatalf("ExecStart does not exec /usr/local/bin/keyaudit: %s", script)
	}
	script = strings.Replace(script, "/usr/local/bin/keyaudit", fake, 1)
	creds := filepath.Join(dir, "credentials")
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	run := func() (store string, args []string) {
		t.Helper()
		cmd := exec.Command("/bin/sh", "-ec", script)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "CREDENTIALS_DIRECTORY=" + creds, "STATE_DIRECTORY=/var/lib/keyaudit:/var/lib/keyaudit/reports"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ExecStart: %v\n%s", err, out)
		}
		for l := range strings.Lines(string(out)) {
			l = strings.TrimSuffix(l, "\n")
			if v, ok := strings.CutPrefix(l, "store="); ok {
				store = v
			} else if v, ok := strings.CutPrefix(l, "arg="); ok {
				args = append(args, v)
			}
		}
		return store, args
	}

	store, args := run()
	if store != "unset" {
		t.Errorf("without the store-url credential KEYAUDIT_STORE=%q", store)
	}
	want := []string{"--config", "/etc/keyaudit/keyaudit.yaml", "audit", "--format", "jsonl",
		"--report", "html=/var/lib/keyaudit/reports/audit.html",
		"--report", "json=/var/lib/keyaudit/reports/audit.json",
		"--report", "prometheus=/var/lib/keyaudit/reports/keyaudit.prom"}
	if strings.Join(args, " ") != strings.Join(want, " ") {
		t.Errorf("keyaudit %q\nwant     %q", args, want)
	}

	const url = "postgres://keyaudit:s3cret@db.example.test/keyaudit"
	if err := os.WriteFile(filepath.Join(creds, "store-url"), []byte(url+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	store, args = run()
	if store != url {
		t.Errorf("with the store-url credential KEYAUDIT_STORE=%q, want %q", store, url)
	}
	if strings.Contains(strings.Join(args, " "), "s3cret") {
		t.Errorf("the store password is in argv: %q", args)
	}
}

// TestSystemdAuditRuns runs the unit's command line with a freshly built
// keyaudit, as systemd would start it: the PIN in the credentials
// directory (where the config's URI reads it), XDG_STATE_HOME from the
// unit, state and reports under a temp root standing for /var/lib, and
// SoftHSM as the HSM. The audit must inventory the token, keep its SQLite
// store in the state directory and write every report.
func TestSystemdAuditRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: builds keyaudit and runs the unit's command against SoftHSM")
	}
	hsm := testlab.NewSoftHSM(t)
	tk := hsm.InitToken("hsm1", "4321")
	tk.GenKeyPair("EC:prime256v1", "web", "01")
	bin, err := buildKeyaudit()
	if err != nil {
		t.Fatal(err)
	}
	svc := parseUnit(t, "systemd/keyaudit-audit.service")
	line := svc.one(t, "Service", "ExecStart")
	script := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(line, "/bin/sh -ec '"), "'"), "$$", "$")

	root := t.TempDir()
	rw := strings.NewReplacer("/usr/local/bin/keyaudit", bin, "/etc/keyaudit", filepath.Join(root, "etc/keyaudit"),
		"/var/lib", filepath.Join(root, "var/lib"))
	script = rw.Replace(script)
	creds := filepath.Join(root, "run/credentials/keyaudit-audit.service")
	writeFile(t, filepath.Join(creds, "pkcs11-pin"), tk.PIN, 0o400)
	for _, d := range strings.Fields(svc.one(t, "Service", "StateDirectory")) {
		if err := os.MkdirAll(filepath.Join(root, "var/lib", d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(root, "etc/keyaudit/keyaudit.yaml"), fmt.Sprintf(
		"inventory:\n  sources:\n    - pkcs11: \"pkcs11:token=hsm1?module-path=%s&pin-source=file:%s/pkcs11-pin\"\n", hsm.Module, creds), 0o644)

	env := []string{"PATH=/usr/bin:/bin", "HOME=" + root, "SOFTHSM2_CONF=" + hsm.Conf, "CREDENTIALS_DIRECTORY=" + creds}
	for _, e := range svc["Service"]["Environment"] {
		env = append(env, rw.Replace(e))
	}
	cmd := exec.Command("/bin/sh", "-ec", script)
	cmd.Dir = filepath.Join(root, "var/lib/keyaudit") // WorkingDirectory=
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 0 && code != 1 {
		t.Fatalf("ExecStart: %v\n%s", err, out)
	}
	for _, f := range []string{"keyaudit.db", "reports/audit.html", "reports/audit.json", "reports/keyaudit.prom"} {
		if fi, err := os.Stat(filepath.Join(root, "var/lib/keyaudit", f)); err != nil || fi.Size() == 0 {
			t.Errorf("/var/lib/keyaudit/%s: %v\n%s", f, err, out)
		}
	}
	prom, _ := os.ReadFile(filepath.Join(root, "var/lib/keyaudit/reports/keyaudit.prom"))
	if !bytes.Contains(prom, []byte(`keyaudit_stage_ok{stage="inventory",status="complete"} 1`)) {
		t.Errorf("the inventory stage did not complete:\n%s\n%s", prom, out)
	}
}
