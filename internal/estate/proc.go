package estate

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Process is a real server started by the estate (Postfix, Dovecot, Knot).
type Process struct {
	Name string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	stop func() error
}

// Start runs name with args in dir, logging to dir/<name>.log.
func Start(dir, name string, args ...string) (*Process, error) {
	logPath := filepath.Join(dir, filepath.Base(name)+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("estate: %w", err)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	// If the estate's process dies, its servers die with it: a stale
	// server would answer the next run with old keys.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("estate: start %s: %w", name, err)
	}
	p := &Process{Name: filepath.Base(name), Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process: its own stop hook, else SIGTERM, then SIGKILL.
func (p *Process) Stop() error {
	if p.Exited() {
		return nil
	}
	if p.stop != nil {
		_ = p.stop()
	} else {
		_ = p.cmd.Process.Signal(os.Interrupt)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// Tail returns the end of the process log.
func (p *Process) Tail() string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// PortFree fails when something already listens on addr.
func PortFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("estate: %s is in use (a server left over from an earlier run?): %w", addr, err)
	}
	return ln.Close()
}

// WaitTCP waits until addr accepts connections, the process dies, or
// timeout passes.
func WaitTCP(ctx context.Context, p *Process, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("estate: %s exited before listening on %s: %s", p.Name, addr, p.Tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("estate: %s not listening on %s after %v", p.Name, addr, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}
