// Package plan turns what an inventory is asked to read — PKCS#11 URIs and
// file paths given on the command line, and the config file's
// inventory.sources and inventory.metadata — into sources to open: it
// parses the URIs, reads their PINs and the PKCS#12 passwords (from files
// or environment variables, never from arguments), attaches each source's
// default owner, purpose and cryptoperiod, compiles the metadata rules and
// builds the scrubber that keeps the secrets it read out of every message.
//
// New checks everything that can be checked without a device; Plan.Open
// then opens the sources (inventory/pkcs11, inventory/files), failing on
// bad input — an unknown token, a missing module, a wrong PIN, a path that
// does not exist — before anything is listed or recorded.
package plan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/inventory/awskms"
	"github.com/keyaudit/keyaudit/inventory/files"
	"github.com/keyaudit/keyaudit/inventory/kmip"
	"github.com/keyaudit/keyaudit/inventory/pkcs11"
)

// Environment variables read when the configuration leaves a value out.
const (
	// ModuleEnv names the PKCS#11 library for URIs that name none.
	ModuleEnv = "KEYAUDIT_PKCS11_MODULE"
	// PasswordEnv holds the password of PKCS#12 files when no password
	// file is given.
	PasswordEnv = "KEYAUDIT_PKCS12_PASSWORD"
)

// Config is what New plans: the command line's sources first, then the
// config file's.
type Config struct {
	// PKCS11 are RFC 7512 URIs of tokens (--pkcs11), one source each.
	PKCS11 []string
	// Paths are files or directories (--path), read as one source.
	Paths []string
	// Module is the PKCS#11 library for URIs that name none
	// (--pkcs11-module); "" means $KEYAUDIT_PKCS11_MODULE.
	Module string
	// PasswordFile holds the PKCS#12 password of Paths and of the
	// section's file sources that name no password of their own
	// (--pkcs12-password-file); "" means $KEYAUDIT_PKCS12_PASSWORD.
	PasswordFile string
	// Section is the config file's inventory section.
	Section Section
	// Getenv looks up environment variables (nil: os.Getenv).
	Getenv func(string) string
	// Secrets says what to do with a PIN or password file its group or
	// others may read: warn (Secrets.Warn) or, strict, refuse it.
	Secrets secretfile.Policy
	// Log receives the sources' debug events (never a secret); nil
	// discards.
	Log *slog.Logger
}

// Plan is the sources to open, their PINs and passwords read.
type Plan struct {
	// Rules are the section's metadata rules, compiled.
	Rules inventory.Rules
	// Scrub replaces every PIN and password the plan read with "***" in
	// a message and cuts the message to its first line (inventory.Scrubber).
	Scrub func(string) string

	sources []planned
}

// planned is a source to open, with the defaults for its keys.
type planned struct {
	open     func(ctx context.Context) (inventory.Source, error)
	defaults inventory.Defaults
}

// Check checks what New checks before it reads anything: the metadata
// rules, the URIs (one carrying pin-value is refused) and the section's
// sources. It reads no file and no environment variable, and accepts a
// Config naming no source (the command line may add them): keyaudit
// config check runs it on the config file's inventory section.
func (c Config) Check() error {
	if _, err := c.Section.Metadata.Compile(); err != nil {
		return fmt.Errorf("inventory.%w", err)
	}
	checkURI := func(raw string) error {
		u, err := pkcs11uri.Parse(raw)
		if err != nil {
			return err
		}
		return pkcs11.CheckURI(u)
	}
	for _, raw := range c.PKCS11 {
		if err := checkURI(raw); err != nil {
			return fmt.Errorf("--pkcs11: %w", err)
		}
	}
	for i, sc := range c.Section.Sources {
		err := sc.check()
		if err == nil && sc.PKCS11 != "" {
			err = checkURI(sc.PKCS11)
		}
		if err != nil {
			return fmt.Errorf("inventory.sources[%d]: %w", i, err)
		}
	}
	return nil
}

// New plans the sources of c: its PKCS11 URIs, then its Paths, then the
// section's sources, in that order. It checks c (Check), reads the PINs
// and passwords the sources need, and fails when c names no source at
// all.
func New(c Config) (*Plan, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	rules, err := c.Section.Metadata.Compile()
	if err != nil {
		return nil, fmt.Errorf("inventory.%w", err)
	}
	module := c.Module
	if module == "" {
		module = getenv(ModuleEnv)
	}
	defaultPassword := getenv(PasswordEnv)
	if c.PasswordFile != "" {
		if defaultPassword, err = readSecretFile(c.PasswordFile, c.Secrets); err != nil {
			return nil, fmt.Errorf("--pkcs12-password-file: %w", err)
		}
	}

	p := &Plan{Rules: rules}
	var secrets []string
	addPKCS11 := func(raw, mod string, d inventory.Defaults) error {
		u, err := pkcs11uri.Parse(raw)
		if err != nil {
			return err
		}
		pin, err := pkcs11.ResolvePIN(u, getenv, c.Secrets)
		if err != nil {
			return err
		}
		if pin != "" {
			secrets = append(secrets, pin)
		}
		if mod == "" {
			mod = module
		}
		p.sources = append(p.sources, planned{defaults: d, open: func(ctx context.Context) (inventory.Source, error) {
			return pkcs11.Open(ctx, pkcs11.Config{URI: u, Module: mod, PIN: pin, Log: c.Log})
		}})
		return nil
	}
	addFiles := func(paths []string, pw, kind string, d inventory.Defaults) {
		if pw != "" {
			secrets = append(secrets, pw)
		}
		p.sources = append(p.sources, planned{defaults: d, open: func(ctx context.Context) (inventory.Source, error) {
			return files.Open(ctx, files.Config{Paths: paths, Password: pw, Kind: kind, Log: c.Log})
		}})
	}

	for _, raw := range c.PKCS11 {
		if err := addPKCS11(raw, "", inventory.Defaults{}); err != nil {
			return nil, fmt.Errorf("--pkcs11: %w", err)
		}
	}
	if len(c.Paths) > 0 {
		addFiles(c.Paths, defaultPassword, "", inventory.Defaults{})
	}
	for i, sc := range c.Section.Sources {
		err := sc.check()
		switch {
		case err != nil:
		case sc.PKCS11 != "":
			err = addPKCS11(sc.PKCS11, sc.Module, sc.Defaults)
		case sc.KMIP != "":
			kc := sc.kmipConfig()
			kc.Secrets, kc.Log = c.Secrets, c.Log
			p.sources = append(p.sources, planned{defaults: sc.Defaults, open: func(ctx context.Context) (inventory.Source, error) {
				return kmip.Open(ctx, kc)
			}})
		case sc.AWSKMS != "":
			region, _ := awskms.ParseURI(sc.AWSKMS) // checked above
			ac := awskms.Config{Region: region, Endpoint: sc.Endpoint, Log: c.Log}
			p.sources = append(p.sources, planned{defaults: sc.Defaults, open: func(ctx context.Context) (inventory.Source, error) {
				return awskms.Open(ctx, ac)
			}})
		default:
			var pw string
			if pw, err = sc.password(defaultPassword, getenv, c.Secrets); err == nil {
				addFiles(sc.paths(), pw, sc.Kind, sc.Defaults)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("inventory.sources[%d]: %w", i, err)
		}
	}
	if len(p.sources) == 0 {
		return nil, errors.New("inventory: no sources: give --pkcs11 URI, --path FILE|DIR, or inventory.sources in the config")
	}
	p.Scrub = inventory.Scrubber(secrets)
	return p, nil
}

// Open opens the planned sources in order, with their defaults. When one
// fails (bad input: an unknown token, a wrong PIN, a missing path), the
// ones already opened are closed and its error is returned, scrubbed. The
// caller closes the sources (inventory.CloseAll).
func (p *Plan) Open(ctx context.Context) ([]inventory.Opened, error) {
	out := make([]inventory.Opened, 0, len(p.sources))
	for _, ps := range p.sources {
		s, err := ps.open(ctx)
		if err != nil {
			inventory.CloseAll(out)
			return nil, inventory.ScrubError(err, p.Scrub)
		}
		out = append(out, inventory.Opened{Source: s, Defaults: ps.defaults})
	}
	return out, nil
}

// maxSecretFile bounds a password file.
const maxSecretFile = 4096

// readSecretFile reads a password file (first line, trailing newline cut).
// A file its group or others may read is warned about or refused as
// secrets says. Errors name the file, never its content.
// At most maxSecretFile+1 bytes are read, so an endless source
// (/dev/zero, a pipe whose writer never stops) is refused, not drained.
func readSecretFile(path string, secrets secretfile.Policy) (string, error) {
	b, err := secrets.ReadFile("password file", path, maxSecretFile)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
