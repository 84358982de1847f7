package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/keyaudit/keyaudit/inventory"
)

// Config names the files of one source.
type Config struct {
	// Paths are files or directories (walked recursively, symlinks to
	// directories not followed).
	Paths []string
	// Password opens PKCS#12 files. Callers read it from an environment
	// variable or a file, never from argv.
	Password string
	// Kind labels PEM/DER keys with a source kind other than "pem"/"der"
	// (e.g. "gcp-kms" for gcloud get-public-key output).
	Kind string
	// Log receives per-file skips; nil discards.
	Log *slog.Logger
}

// Source lists the keys in a set of files.
type Source struct {
	cfg  Config
	name string
	log  *slog.Logger
}

var _ inventory.Source = (*Source)(nil)

// Open checks that every path exists. A missing path is an input error.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	if len(cfg.Paths) == 0 {
		return nil, inventory.Input(errors.New("files: no paths"))
	}
	for _, p := range cfg.Paths {
		if _, err := os.Stat(p); err != nil {
			return nil, inventory.Input(fmt.Errorf("files: %w", err))
		}
	}
	s := &Source{cfg: cfg, log: cfg.Log}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.name = "files:" + cfg.Paths[0]
	if len(cfg.Paths) > 1 {
		s.name += fmt.Sprintf(" (+%d)", len(cfg.Paths)-1)
	}
	return s, ctx.Err()
}

// Name is "files:" and the first path.
func (s *Source) Name() string { return s.name }

// Close does nothing: files are opened one at a time while listing.
func (s *Source) Close() error { return nil }

// Keys reads every file, pairs keys and certificates across them by SPKI,
// and emits them sorted by path. Files in a directory that hold no keys are
// skipped quietly; files that look like key material but cannot be read
// (a PKCS#12 with the wrong password, a corrupt PEM block, an unreadable
// file) make the result partial, since the inventory is then incomplete.
func (s *Source) Keys(ctx context.Context, emit func(inventory.Key) error) inventory.Result {
	res := inventory.Result{Source: s.name}
	var all []inventory.Key
	var problems []string
	files := 0
	for _, root := range s.cfg.Paths {
		st, err := os.Stat(root)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		explicit := !st.IsDir()
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				problems = append(problems, err.Error())
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if files++; files > maxFiles {
				return fmt.Errorf("files: more than %d files under %s", maxFiles, root)
			}
			keys, err := s.file(path, explicit)
			if err != nil {
				problems = append(problems, err.Error())
			}
			all = append(all, keys...)
			return nil
		})
		if err != nil {
			problems = append(problems, err.Error())
			if ctx.Err() != nil {
				break
			}
		}
	}
	inventory.Pair(all)
	sort.SliceStable(all, func(i, j int) bool { return all[i].Path < all[j].Path })
	refs := inventory.Refs{}
	for i := range all {
		k := &all[i]
		fp := k.SPKISHA256
		if k.Class == inventory.ClassCertificate {
			fp = k.CertSHA256
		}
		k.Ref = refs.Unique(inventory.MakeRef("file:"+k.Path, k.Class, k.ID, k.Label, fp))
		k.Normalize()
		if err := emit(*k); err != nil {
			return res.Finish(err)
		}
		res.Keys++
	}
	res.Warnings = problems
	if err := ctx.Err(); err != nil {
		return res.Finish(err)
	}
	if len(problems) > 0 {
		return res.Finish(fmt.Errorf("files: %d file(s) could not be read; first: %s", len(problems), problems[0]))
	}
	return res.Finish(nil)
}

// file reads one file. An unrecognised file is an error only when it was
// named explicitly.
func (s *Source) file(path string, explicit bool) ([]inventory.Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		if explicit {
			return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileBytes)
		}
		s.log.Debug("files: skipping large file", "path", path)
		return nil, nil
	}
	keys, err := Parse(path, data, Options{Password: s.cfg.Password, Kind: s.cfg.Kind})
	clear(data) // may have held a private key
	if errors.Is(err, ErrNotKeyMaterial) && !explicit {
		s.log.Debug("files: no key material", "path", path)
		return nil, nil
	}
	for i := range keys {
		keys[i].Path = path
	}
	if err != nil {
		return keys, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}
