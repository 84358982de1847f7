package revoke

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyaudit/keyaudit/internal/procgroup"
)

// HookAlreadyRevokedExit is the exit status by which a hook says the CA
// had already revoked the certificate (0 means revoked now; anything else
// is a failure).
const HookAlreadyRevokedExit = 3

// DefaultHookTimeout bounds one hook run.
const DefaultHookTimeout = 60 * time.Second

// maxHookOutput is how much of a hook's output is kept (and recorded).
const maxHookOutput = 4096

// HookExecutor revokes through a configured command, for CAs without
// ACME. The command gets the certificate PEM on stdin and the plan's
// fields in the environment:
//
//	KEYAUDIT_PLAN_ID, KEYAUDIT_PLAN_HASH, KEYAUDIT_ACTION (1-based),
//	KEYAUDIT_CERT_SHA256, KEYAUDIT_SPKI_SHA256, KEYAUDIT_SERIAL (hex),
//	KEYAUDIT_ISSUER, KEYAUDIT_SUBJECT, KEYAUDIT_NAMES (comma-separated),
//	KEYAUDIT_REASON (RFC 5280 name), KEYAUDIT_REASON_CODE,
//	KEYAUDIT_CA, KEYAUDIT_FINDINGS (check:fingerprint, comma-separated)
//
// Exit 0: revoked; exit 3: already revoked; anything else, or running
// past Timeout (the whole process group is killed), is a failure. The
// combined output is captured (first 4 KiB) into the audit log, so a hook
// must not print secrets. keyaudit's own secrets are kept out of the
// hook's environment: inherited KEYAUDIT_* variables and those named in
// DropEnv are removed.
type HookExecutor struct {
	// Command is the program and its arguments (no shell).
	Command []string
	Timeout time.Duration
	// Dir is the working directory (default: keyaudit's).
	Dir string
	// DropEnv names variables removed from the inherited environment
	// (keyaudit's account key variable, for one).
	DropEnv []string
}

// Check implements Executor.
func (h *HookExecutor) Check(Action) error {
	if len(h.Command) == 0 || strings.TrimSpace(h.Command[0]) == "" {
		return errors.New("no hook command (revoke.hook.command in the config)")
	}
	if _, err := exec.LookPath(h.Command[0]); err != nil {
		return fmt.Errorf("hook command: %w", err)
	}
	return nil
}

// Revoke implements Executor.
func (h *HookExecutor) Revoke(ctx context.Context, r Request) Result {
	if err := h.Check(r.Action); err != nil {
		return Result{Outcome: OutcomeFailed, Message: err.Error()}
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.Command[0], h.Command[1:]...)
	cmd.Dir = h.Dir
	cmd.Env = h.env(r)
	cmd.Stdin = strings.NewReader(r.Action.Certificate.PEM)
	out := &capped{max: maxHookOutput}
	cmd.Stdout, cmd.Stderr = out, out
	procgroup.Set(cmd) // a timed-out hook's children die with it
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	res := Result{Output: out.String()}
	if ps := cmd.ProcessState; ps != nil && ps.Exited() {
		code := ps.ExitCode()
		res.ExitCode = &code
	}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		res.Outcome, res.Message = OutcomeFailed, fmt.Sprintf("hook %s timed out after %v and was killed", h.Command[0], timeout)
	case err == nil:
		res.Outcome, res.Message = OutcomeRevoked, fmt.Sprintf("hook %s revoked it", h.Command[0])
	case res.ExitCode != nil && *res.ExitCode == HookAlreadyRevokedExit:
		res.Outcome, res.Message = OutcomeAlreadyRevoked, fmt.Sprintf("hook %s says it was already revoked", h.Command[0])
	default:
		res.Outcome, res.Message = OutcomeFailed, fmt.Sprintf("hook %s: %v", h.Command[0], err)
		if last := lastLine(res.Output); last != "" {
			res.Message += ": " + last
		}
	}
	return res
}

func (h *HookExecutor) env(r Request) []string {
	drop := map[string]bool{}
	for _, k := range h.DropEnv {
		drop[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if drop[k] || strings.HasPrefix(k, "KEYAUDIT_") {
			continue
		}
		env = append(env, kv)
	}
	a := r.Action
	var findings []string
	for _, f := range a.Findings {
		findings = append(findings, f.Check+":"+f.Fingerprint)
	}
	return append(env,
		"KEYAUDIT_PLAN_ID="+r.PlanID,
		"KEYAUDIT_PLAN_HASH="+r.PlanHash,
		"KEYAUDIT_ACTION="+strconv.Itoa(r.Index),
		"KEYAUDIT_CERT_SHA256="+a.Certificate.SHA256,
		"KEYAUDIT_SPKI_SHA256="+a.Certificate.SPKISHA256,
		"KEYAUDIT_SERIAL="+a.Certificate.Serial,
		"KEYAUDIT_ISSUER="+a.Certificate.Issuer,
		"KEYAUDIT_SUBJECT="+a.Certificate.Subject,
		"KEYAUDIT_NAMES="+strings.Join(a.Certificate.Names, ","),
		"KEYAUDIT_REASON="+a.Reason.Name,
		"KEYAUDIT_REASON_CODE="+strconv.Itoa(a.Reason.Code),
		"KEYAUDIT_CA="+a.CA,
		"KEYAUDIT_FINDINGS="+strings.Join(findings, ","),
	)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// capped keeps the first max bytes written to it.
type capped struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		if len(p) > room {
			c.buf.Write(p[:room])
			c.truncated = true
		} else {
			c.buf.Write(p)
		}
	} else if len(p) > 0 {
		c.truncated = true
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := strings.ToValidUTF8(c.buf.String(), "\uFFFD")
	if c.truncated {
		s += "\n[output truncated]"
	}
	return s
}
