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
)

// maxLinkHops bounds how many symbolic links Write follows (the kernel's
// own limit is 40).
const maxLinkHops = 40

// Write writes what fn writes to the file at path.
//
// A regular file or a missing path is replaced atomically: fn writes a
// temporary file beside it, which is renamed over path only once fn and
// every write succeeded, so a failed report never leaves half a file. A
// new file gets perm; a replaced one keeps its permission bits. A symbolic
// link to a regular file has its target replaced the same way (the link
// stays). A character or block device, a FIFO, and a link through /proc
// (/dev/stdout, /dev/fd/N, /proc/self/fd/N: an open descriptor) are opened
// and written through, never renamed over: a failed write (/dev/full, a
// FIFO nobody reads) is an error. A directory, a socket and a link to
// nothing are refused. Every error names path.
func Write(path string, perm fs.FileMode, fn func(io.Writer) error) error {
	target, how, err := classify(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if how == writeThrough {
		err = through(target, fn)
	} else {
		err = replace(target, perm, fn)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

type method int

const (
	replaceFile method = iota
	writeThrough
)

// classify says how path is written, and which file: the target of its
// links when it is a link to a regular file.
func classify(path string) (string, method, error) {
	p := path
	magic := false
	for hops := 0; ; hops++ {
		if hops > maxLinkHops {
			return "", 0, errors.New("too many levels of symbolic links")
		}
		if underProc(p) {
			magic = true
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			if p != path {
				return "", 0, fmt.Errorf("symbolic link to %s, which does not exist", p)
			}
			return p, replaceFile, nil
		}
		if err != nil {
			return "", 0, err
		}
		mode := fi.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return "", 0, err
			}
			if magic || underProc(link) {
				// A descriptor's link names no file ("pipe:[123]") or
				// one open elsewhere: write through the descriptor.
				return through1(path)
			}
			if !filepath.IsAbs(link) {
				link = filepath.Join(filepath.Dir(p), link)
			}
			p = link
			continue
		case mode.IsRegular():
			if magic {
				return path, writeThrough, nil
			}
			return p, replaceFile, nil
		case mode.IsDir():
			return "", 0, errors.New("is a directory")
		case mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe) != 0:
			return p, writeThrough, nil
		}
		return "", 0, fmt.Errorf("not a file, device or FIFO (%s)", mode.Type())
	}
}

// through1 classifies a link through /proc by what it opens: a directory
// or a socket cannot be written; anything else is written through path.
func through1(path string) (string, method, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", 0, err
	}
	if fi.IsDir() {
		return "", 0, errors.New("is a directory")
	}
	return path, writeThrough, nil
}

// underProc reports whether p lies in /proc once its directories'
// links are resolved (/dev/fd is a link to /proc/self/fd).
func underProc(p string) bool {
	if !filepath.IsAbs(p) {
		return false
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		dir = filepath.Dir(p)
	}
	return dir == "/proc" || strings.HasPrefix(dir, "/proc/")
}

// replace writes a temporary file beside path and renames it over path.
func replace(path string, perm fs.FileMode, fn func(io.Writer) error) error {
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", dir, pe.Err) // not the temporary name
	} else if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := run(tmp, fn); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// through opens path for writing and writes to it. It never creates or
// truncates: O_APPEND keeps what a descriptor named through /proc already
// holds (stdout redirected with >>), and O_NONBLOCK makes a FIFO nobody
// reads an error (ENXIO) instead of a hang.
func through(path string, fn func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ENXIO) {
		return errors.New("no process is reading the FIFO")
	}
	if err != nil {
		return err
	}
	if err := run(f, fn); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// run calls fn on w and returns its error, else the first write error fn
// did not report.
func run(w io.Writer, fn func(io.Writer) error) error {
	ew := &errWriter{w: w}
	if err := fn(ew); err != nil {
		return err
	}
	return ew.err
}

// errWriter remembers the first failed write.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}
