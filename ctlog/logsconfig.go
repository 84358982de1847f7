package ctlog

import (
	"errors"
	"fmt"
	"slices"
)

// LogsConfig says which logs to follow. Its YAML form is keyaudit's ct:
// config section; URLs, Keys and Types are the logs given one by one on
// the command line (--log, --log-key, --log-type), which have no YAML
// form:
//
//	ct:
//	  log-list: /etc/keyaudit/log_list.json
//	  states: [usable, qualified, readonly]
//	  logs:
//	    - url: https://ct.example/logs/2026h1/
//	      key: MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…   # base64 DER, PEM or a file
//	      type: static                               # or rfc6962
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
// ct: section: c's URLs, Keys and Types (base's have no YAML form and
// are dropped), the Configured logs of both (c's first), and c's LogList
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
		l.Description, l.Origin = lc.Description, lc.Origin
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
	}
	if len(logs) == 0 {
		return nil, ErrNoLogs
	}
	return logs, nil
}
