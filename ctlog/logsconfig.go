package ctlog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// LogsConfig says which logs to follow. Its YAML form is keyaudit's ct:
// config section; URLs, Keys, Types and Origins are the logs given
// one by one on the command line (--log, --log-key, --log-type,
// --log-origin), which have no YAML form:
//
//	ct:
//	  log-list: /etc/keyaudit/log_list.json
//	  states: [usable, qualified, readonly]
//	  logs:
//	    - url: https://ct.example/logs/2026h1/
//	      key: MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…   # base64 DER, PEM or a file
//	      type: static                               # or rfc6962
//	      origin: ct.example/logs/2026h1             # static logs: the checkpoint origin
//	      description: Example 2026h1
//
// Logs builds and validates the logs.
type LogsConfig struct {
	// LogList is a Chrome log list v3 file ("": none); its logs and
	// tiled_logs in one of States (DefaultStates when empty) are followed.
	LogList string   `yaml:"log-list"`
	States  []string `yaml:"states"`
	// Configured are logs described one by one.
	Configured []LogConfig `yaml:"logs"`
	// URLs are logs given one by one, each with the key of the same index
	// in Keys (one key per URL) and the type of the same index in Types
	// (or Types' only value for all; none: rfc6962).
	URLs  []string `yaml:"-"`
	Keys  []string `yaml:"-"`
	Types []string `yaml:"-"`
	// Origins are the checkpoint origins of the URLs' static logs, the
	// n-th for the n-th URL; a missing or empty one is taken from the log
	// list when the log is in it (Log.Origin).
	Origins []string `yaml:"-"`
}

// LogConfig is one log of LogsConfig.Configured.
type LogConfig struct {
	URL string `yaml:"url"`
	// Key is the log's public key: PEM, DER, base64 DER or a file holding
	// any of these (ParsePublicKey).
	Key string `yaml:"key"`
	// Type is rfc6962 (also when empty) or static (ParseType).
	Type        string `yaml:"type"`
	Description string `yaml:"description"`
	// Origin is the checkpoint origin a static log must sign (Log.Origin).
	Origin string `yaml:"origin"`
}

// Over returns c, as given on the command line, over base, a config's
// ct: section: c's URLs, Keys, Types and Origins (base's have no YAML
// form and are dropped), the Configured logs of both (c's first), and c's LogList
// and States where c sets them, else base's.
func (c LogsConfig) Over(base LogsConfig) LogsConfig {
	out := c
	out.Configured = append(slices.Clip(c.Configured), base.Configured...)
	if out.LogList == "" {
		out.LogList = base.LogList
	}
	if len(out.States) == 0 {
		out.States = base.States
	}
	return out
}

// ErrNoLogs is returned by LogsConfig.Logs when the config names no log.
var ErrNoLogs = errors.New("no CT logs: give --log with --log-key, --log-list, or a ct: section in the config")

// Logs returns the logs c names, in order: the URLs, the Configured logs,
// then the log list's, each log once (the first with its log ID). A key or
// type that does not parse, a Keys or Types that does not match URLs, a
// log list that cannot be read and a config that names no log at all
// (ErrNoLogs) are errors. The log list is read, nothing is contacted.
func (c LogsConfig) Logs() ([]Log, error) {
	if len(c.Keys) != len(c.URLs) {
		return nil, fmt.Errorf("%d --log but %d --log-key: give one key per log", len(c.URLs), len(c.Keys))
	}
	if len(c.Types) > 1 && len(c.Types) != len(c.URLs) {
		return nil, fmt.Errorf("%d --log but %d --log-type: give one type, or one per log", len(c.URLs), len(c.Types))
	}
	if len(c.Origins) > len(c.URLs) {
		return nil, fmt.Errorf("%d --log but %d --log-origin: give at most one origin per log", len(c.URLs), len(c.Origins))
	}
	var logs []Log
	seen := map[string]bool{}
	add := func(l Log) {
		if !seen[l.ID] {
			seen[l.ID] = true
			logs = append(logs, l)
		}
	}
	for i, u := range c.URLs {
		typ := ""
		if len(c.Types) == 1 {
			typ = c.Types[0]
		} else if len(c.Types) > 1 {
			typ = c.Types[i]
		}
		t, err := ParseType(typ)
		if err != nil {
			return nil, err
		}
		l, err := NewLog(u, c.Keys[i], t)
		if err != nil {
			return nil, fmt.Errorf("--log %s: %w", u, err)
		}
		if i < len(c.Origins) {
			if l.Origin, err = checkOrigin(l, c.Origins[i]); err != nil {
				return nil, fmt.Errorf("--log %s: %w", u, err)
			}
		}
		add(l)
	}
	for i, lc := range c.Configured {
		t, err := ParseType(lc.Type)
		if err != nil {
			return nil, fmt.Errorf("ct.logs[%d]: %w", i, err)
		}
		l, err := NewLog(lc.URL, lc.Key, t)
		if err != nil {
			return nil, fmt.Errorf("ct.logs[%d]: %w", i, err)
		}
		l.Description = lc.Description
		if l.Origin, err = checkOrigin(l, lc.Origin); err != nil {
			return nil, fmt.Errorf("ct.logs[%d]: %w", i, err)
		}
		add(l)
	}
	if c.LogList != "" {
		ll, err := ReadLogList(c.LogList)
		if err != nil {
			return nil, err
		}
		ls, err := ll.Logs(c.States...)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			add(l)
		}
		// A static log named on its own is bound to the origin the list
		// gives it, whatever its state there.
		origins := ll.origins()
		for i := range logs {
			if logs[i].Type == Static && logs[i].Origin == "" {
				logs[i].Origin = origins[logs[i].ID]
			}
		}
	}
	if len(logs) == 0 {
		return nil, ErrNoLogs
	}
	return logs, nil
}

// checkOrigin validates a configured checkpoint origin for l: only static
// logs sign checkpoints, and an origin is one line of printable text.
func checkOrigin(l Log, origin string) (string, error) {
	origin = strings.TrimSpace(origin)
	switch {
	case origin == "":
		return "", nil
	case l.Type != Static:
		return "", fmt.Errorf("origin %q given for an %s log: only static-ct-api logs sign checkpoints", origin, l.Type)
	case !isPrintable([]byte(origin)) || strings.ContainsAny(origin, "\t+"):
		return "", fmt.Errorf("origin %q: not a checkpoint origin line", origin)
	}
	return origin, nil
}
