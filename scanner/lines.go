package scanner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"sync/atomic"
)

// MaxLineLen caps one line of a target list, in bytes, its line ending
// (\n or \r\n) not counted.
const MaxLineLen = 4096

// longLineHead is how much of a line over MaxLineLen its error quotes.
const longLineHead = 64

// ReadSpecs yields the targets of r, one a line, as ParseSpec reads
// them; blank lines and #-comments are skipped. A bad line — one
// ParseSpec refuses, or one longer than MaxLineLen, which is skipped
// whole — is yielded as an error naming the list and the line ("stdin
// line 3: invalid target …", wrapping ErrBadTarget), and reading goes on
// with the next line. An error reading r is yielded last, naming the
// line it stopped at. Memory is bounded by MaxLineLen, whatever r holds.
func ReadSpecs(r io.Reader, name string) iter.Seq2[Spec, error] {
	return func(yield func(Spec, error) bool) {
		br := bufio.NewReaderSize(r, MaxLineLen+2) // a whole line, \r\n included
		for n := 1; ; n++ {
			line, long, err := readLine(br)
			if err != nil && err != io.EOF {
				yield(Spec{}, fmt.Errorf("%s line %d: %w", name, n, err))
				return
			}
			if sp, ok, bad := parseLine(line, long); ok {
				if bad != nil {
					bad = fmt.Errorf("%s line %d: %w", name, n, bad)
				}
				if !yield(sp, bad) {
					return
				}
			}
			if err == io.EOF {
				return
			}
		}
	}
}

// readLine reads the next line of br, without its line ending. A line
// longer than MaxLineLen is read to its end and only its first
// longLineHead bytes returned, with long set. The last line, which may
// be empty, comes with io.EOF.
func readLine(br *bufio.Reader) (line []byte, long bool, err error) {
	line, err = br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		line = bytes.Clone(line[:longLineHead])
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		return line, true, err
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) > MaxLineLen {
		return line[:longLineHead], true, err
	}
	return line, false, err
}

// parseLine parses one line of a target list (its start only when long);
// ok is false for a blank line or a comment.
func parseLine(line []byte, long bool) (sp Spec, ok bool, err error) {
	text := string(bytes.TrimSpace(line))
	if long {
		return Spec{}, true, &TargetError{Target: text + "…", Reason: fmt.Sprintf("line longer than %d bytes", MaxLineLen)}
	}
	if text == "" || text[0] == '#' {
		return Spec{}, false, nil
	}
	sp, err = ParseSpec(text)
	return sp, true, err
}

// Source is a target list, one target a line as ReadSpecs reads them,
// opened when it is read.
type Source struct {
	// Name names the list in errors: "stdin", a file's path.
	Name string
	// Open opens the list; what it returns is closed once read. Its
	// error is reported as it is, so it should name the list.
	Open func() (io.ReadCloser, error)
}

// ReaderSource is the list read from r (which is not closed).
func ReaderSource(name string, r io.Reader) Source {
	return Source{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(r), nil }}
}

// FileSource is the list in the file at path. The error of a file that
// cannot be opened starts with what, which says where the path came
// from ("--targets-file: open …").
func FileSource(path, what string) Source {
	return Source{Name: path, Open: func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return f, nil
	}}
}

// Check opens the list and closes it again, so that one that cannot be
// opened fails before a scan starts rather than while it runs.
func (s Source) Check() error {
	rc, err := s.Open()
	if err != nil {
		return err
	}
	return rc.Close()
}

// ParseTargets returns the targets of a scan as keyaudit scan is given
// them: args, each a target as ParseSpec reads it or "-" for the lines of
// stdin (read once, after the other arguments), then the lines of the
// file at file ("": none), named --targets-file in errors. The file is
// opened now too, so that one that cannot be read fails before the scan
// starts rather than while it runs. An argument ParseSpec refuses, a
// file that cannot be opened and no target at all are errors.
func ParseTargets(args []string, stdin io.Reader, file string) (*Targets, error) {
	t := &Targets{}
	readStdin := false
	for _, a := range args {
		if a == "-" {
			readStdin = true
			continue
		}
		sp, err := ParseSpec(a)
		if err != nil {
			return nil, err
		}
		t.Specs = append(t.Specs, sp)
	}
	if readStdin {
		t.Sources = append(t.Sources, ReaderSource("stdin", stdin))
	}
	if file != "" {
		src := FileSource(file, "--targets-file")
		if err := src.Check(); err != nil {
			return nil, err
		}
		t.Sources = append(t.Sources, src)
	}
	if len(t.Specs) == 0 && len(t.Sources) == 0 {
		return nil, errors.New("no targets: give TARGET arguments, - for stdin, --targets-file, or scan.targets in the config")
	}
	return t, nil
}

// Targets are the targets of one scan: Specs, then those of each of
// Sources in turn, read while the scan consumes them. Bad lines, and
// sources that cannot be opened, are reported to Skip and counted, and
// the rest is still read.
type Targets struct {
	Specs   []Spec
	Sources []Source
	// Skip, when set, is called with each bad line or unopened source.
	Skip func(error)

	skipped atomic.Int64
}

// All yields the targets; iterate it once.
func (t *Targets) All() iter.Seq[Spec] {
	return func(yield func(Spec) bool) {
		for _, sp := range t.Specs {
			if !yield(sp) {
				return
			}
		}
		for _, src := range t.Sources {
			if !t.read(src, yield) {
				return
			}
		}
	}
}

// read yields the targets of src; it returns false when yield asked to
// stop.
func (t *Targets) read(src Source, yield func(Spec) bool) bool {
	rc, err := src.Open()
	if err != nil {
		t.skip(err)
		return true
	}
	defer rc.Close()
	for sp, err := range ReadSpecs(rc, src.Name) {
		if err != nil {
			t.skip(err)
			continue
		}
		if !yield(sp) {
			return false
		}
	}
	return true
}

func (t *Targets) skip(err error) {
	t.skipped.Add(1)
	if t.Skip != nil {
		t.Skip(err)
	}
}

// Skipped returns how many bad lines and unopened sources All has left
// out so far.
func (t *Targets) Skipped() int { return int(t.skipped.Load()) }

// untilDoneBuffer is how many targets UntilDone reads ahead.
const untilDoneBuffer = 64

// UntilDone yields the targets of seq until ctx ends. seq is iterated on
// a goroutine of its own, so a read that blocks — stdin that stays open,
// a FIFO — does not hold the scan once ctx ends: UntilDone returns at
// once, and the goroutine stops at its next target, or when the blocked
// read returns (for stdin, at the latest when the process exits).
func UntilDone(ctx context.Context, seq iter.Seq[Spec]) iter.Seq[Spec] {
	return func(yield func(Spec) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // the consumer stopped: so does the reader
		ch := make(chan Spec, untilDoneBuffer)
		go func() {
			defer close(ch)
			for sp := range seq {
				select {
				case ch <- sp:
				case <-ctx.Done():
					return
				}
			}
		}()
		for {
			select {
			case sp, ok := <-ch:
				if !ok || !yield(sp) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}
}
