package outfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

// TestWriteRegular: a new path and a regular file are replaced whole,
// keeping an existing file's mode; a failed render leaves the old file.
func TestWriteRegular(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.txt")
	if err := Write(p, 0o644, writeString("one\n")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 || readFile(t, p) != "one\n" {
		t.Fatalf("new file: mode %v content %q", fi.Mode(), readFile(t, p))
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, 0o644, writeString("two\n")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 || readFile(t, p) != "two\n" {
		t.Errorf("replaced file: mode %v content %q (want 0600, two)", fi.Mode().Perm(), readFile(t, p))
	}
	boom := errors.New("render failed")
	err := Write(p, 0o644, func(w io.Writer) error { io.WriteString(w, "half"); return boom })
	if !errors.Is(err, boom) || readFile(t, p) != "two\n" {
		t.Errorf("failed render: %v, file now %q", err, readFile(t, p))
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("left behind: %v", names)
	}
}

// TestWriteSymlink: a link to a regular file keeps being a link and its
// target gets the content; a link to nothing and a directory are refused.
func TestWriteSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.html")
	os.WriteFile(target, []byte("old"), 0o640)
	link := filepath.Join(dir, "latest.html")
	if err := os.Symlink("real.html", link); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, 0o644, writeString("new")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if got := readFile(t, target); got != "new" {
		t.Errorf("target holds %q", got)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o640 {
		t.Errorf("target mode %v, want 0640", fi.Mode().Perm())
	}

	dangling := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join(dir, "nowhere", "x"), dangling)
	if err := Write(dangling, 0o644, writeString("x")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("link to nothing: %v", err)
	}
	if err := Write(dir, 0o644, writeString("x")); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
}

// TestWriteFIFO: a FIFO is written through, never replaced; with no
// reader the write fails at once instead of hanging.
func TestWriteFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	err := Write(fifo, 0o644, writeString("x"))
	if err == nil || !strings.Contains(err.Error(), "no process is reading") {
		t.Errorf("FIFO without a reader: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo) // blocks until the writer opens
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- string(b)
	}()
	// Write opens non-blocking: retry until the reader has opened.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = Write(fifo, 0o644, writeString("through the pipe"))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "through the pipe" {
		t.Errorf("reader got %q", s)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", fi.Mode(), err)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("left behind: %v", names)
	}
}

// TestWriteDevice: a device node (a private /dev/full) is written
// through and its write error reported; it is never renamed over. A link
// to it is written through too.
func TestWriteDevice(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := syscall.Mknod(full, syscall.S_IFCHR|0o666, 1<<8|7); err != nil {
		t.Skipf("mknod (needs root): %v", err)
	}
	link := filepath.Join(dir, "report.json")
	os.Symlink(full, link)
	for _, p := range []string{full, link} {
		err := Write(p, 0o644, writeString(strings.Repeat("x", 1<<16)))
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want ENOSPC naming the path", p, err)
		}
	}
	if fi, err := os.Lstat(full); err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		t.Errorf("the device was replaced: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link to the device was replaced: %v %v", fi.Mode(), err)
	}
	// A writer that swallows the write error still fails.
	err := Write(full, 0o644, func(w io.Writer) error { w.Write([]byte("x")); return nil })
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("unreported write error: %v", err)
	}
}

// TestWriteDescriptor: /proc/self/fd/N and a link to /dev/fd/N write to
// the open descriptor: a pipe gets the content, a file opened for
// appending keeps what it held.
func TestWriteDescriptor(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := Write(fmt.Sprintf("/proc/self/fd/%d", w.Fd()), 0o644, writeString("to the pipe")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if b, _ := io.ReadAll(r); string(b) != "to the pipe" {
		t.Errorf("pipe got %q", b)
	}

	dir := t.TempDir()
	logPath := filepath.Join(dir, "job.log")
	os.WriteFile(logPath, []byte("earlier lines\n"), 0o600)
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	link := filepath.Join(dir, "stdout")
	os.Symlink(fmt.Sprintf("/dev/fd/%d", lf.Fd()), link)
	if err := Write(link, 0o644, writeString("report\n")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, logPath); got != "earlier lines\nreport\n" {
		t.Errorf("log now %q", got)
	}
	if names := entries(t, dir); len(names) != 2 {
		t.Errorf("left behind: %v", names)
	}
}
