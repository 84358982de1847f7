package reports

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// devtools drives headless Chromium through the DevTools protocol over
// a pipe (--remote-debugging-pipe: commands on fd 3, replies on fd 4,
// each message ended by a NUL): no port is opened, nothing leaves the
// machine. It is what lets a test lay a page out at a viewport narrower
// than Chromium's smallest window (Emulation.setDeviceMetricsOverride).
type devtools struct {
	t       *testing.T
	w       *os.File
	r       *bufio.Reader
	id      int
	session string
	events  []cdpMessage
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct{ Message string }
	SessionID string `json:"sessionId,omitempty"`
}

// openDevtools starts bin headless with a fresh profile, every host name
// unresolvable, and attaches to a new blank page.
func openDevtools(t *testing.T, bin string) *devtools {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
		"--disable-extensions", "--disable-sync", "--no-default-browser-check", "--host-resolver-rules=MAP * ~NOTFOUND",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, repW}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	cmdR.Close()
	repW.Close()
	d := &devtools{t: t, w: cmdW, r: bufio.NewReader(repR)}
	t.Cleanup(func() {
		_, _ = d.send("", "Browser.close", nil)
		cmdW.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill() // the browser this test started
			<-done
		}
		repR.Close()
		cancel()
	})
	var target struct{ TargetID string }
	d.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	d.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	d.session = att.SessionID
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		d.call(d.session, m, nil, nil)
	}
	return d
}

func (d *devtools) send(session, method string, params any) (int, error) {
	d.id++
	b, err := json.Marshal(map[string]any{"id": d.id, "method": method, "params": params, "sessionId": session})
	if session == "" {
		b, err = json.Marshal(map[string]any{"id": d.id, "method": method, "params": params})
	}
	if err != nil {
		return 0, err
	}
	_, err = d.w.Write(append(b, 0))
	return d.id, err
}

func (d *devtools) read() cdpMessage {
	d.t.Helper()
	b, err := d.r.ReadBytes(0)
	if err != nil {
		d.t.Fatalf("devtools: %v", err)
	}
	var m cdpMessage
	if err := json.Unmarshal(b[:len(b)-1], &m); err != nil {
		d.t.Fatalf("devtools: %v: %s", err, b)
	}
	return m
}

// call sends method and decodes its result into out (nil: ignored);
// events read meanwhile are kept for wait.
func (d *devtools) call(session, method string, params any, out any) {
	d.t.Helper()
	id, err := d.send(session, method, params)
	if err != nil {
		d.t.Fatalf("devtools %s: %v", method, err)
	}
	for {
		m := d.read()
		if m.ID == 0 {
			d.events = append(d.events, m)
			continue
		}
		if m.ID != id {
			continue
		}
		if m.Error != nil {
			d.t.Fatalf("devtools %s: %s", method, m.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(m.Result, out); err != nil {
				d.t.Fatalf("devtools %s: %v", method, err)
			}
		}
		return
	}
}

// wait returns once the event method has arrived.
func (d *devtools) wait(method string) {
	d.t.Helper()
	for _, e := range d.events {
		if e.Method == method {
			return
		}
	}
	for {
		m := d.read()
		if m.ID == 0 {
			d.events = append(d.events, m)
		}
		if m.Method == method {
			return
		}
	}
}

// open lays url out at a viewport width × height CSS pixels (a phone's
// when mobile) and waits for its load event.
func (d *devtools) open(url string, width, height int, mobile bool) {
	d.t.Helper()
	d.call(d.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, nil)
	d.events = nil
	d.call(d.session, "Page.navigate", map[string]any{"url": url}, nil)
	d.wait("Page.loadEventFired")
}

// eval evaluates a JavaScript expression returning a string.
func (d *devtools) eval(expr string) string {
	d.t.Helper()
	var res struct {
		Result struct {
			Value any
		}
		ExceptionDetails *struct{ Text string }
	}
	d.call(d.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	if res.ExceptionDetails != nil {
		d.t.Fatalf("evaluate: %s", res.ExceptionDetails.Text)
	}
	s, ok := res.Result.Value.(string)
	if !ok {
		d.t.Fatalf("evaluate: %v is not a string", res.Result.Value)
	}
	return s
}

// screenshot returns a PNG of the whole page.
func (d *devtools) screenshot() []byte {
	d.t.Helper()
	var res struct{ Data string }
	d.call(d.session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &res)
	b, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		d.t.Fatalf("screenshot: %v", err)
	}
	return b
}

// problems are the console messages, log entries and uncaught
// exceptions seen since the page was opened: a CSP violation or a script
// error is one.
func (d *devtools) problems() []string {
	var out []string
	for _, e := range d.events {
		switch e.Method {
		case "Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded":
			out = append(out, fmt.Sprintf("%s %s", e.Method, e.Params))
		}
	}
	return out
}
