package scanner

import (
	"fmt"
	"time"
)

// Settings are a scan's settings as a person writes them, on the command
// line (keyaudit scan's flags) or in the config file's scan section:
// ports, scope and shard as text, the rest as Config has them.
type Settings struct {
	Ports       string // ParsePorts: "443,8443,25-26" (--ports)
	Protocol    string
	Resolvers   []string
	Timeout     time.Duration
	DNSTimeout  time.Duration
	Concurrency int
	Rate        float64
	PerIP       int
	Scope       []string // ParseScope: CIDRs and IPs (--scope)
	Shard       string   // ParseShard: "i/n" (--shard)
}

// Config parses s into the Config it describes, validated as New
// validates it. The error of Ports, Scope or Shard names its flag
// ("--ports: invalid port range …").
func (s Settings) Config() (Config, error) {
	ports, err := ParsePorts(s.Ports)
	if err != nil {
		return Config{}, fmt.Errorf("--ports: %w", err)
	}
	scope, err := ParseScope(s.Scope)
	if err != nil {
		return Config{}, fmt.Errorf("--scope: %w", err)
	}
	shard, err := ParseShard(s.Shard)
	if err != nil {
		return Config{}, fmt.Errorf("--shard: %w", err)
	}
	cfg := Config{
		Ports: ports, Protocol: s.Protocol, Resolvers: s.Resolvers, Timeout: s.Timeout, DNSTimeout: s.DNSTimeout,
		Concurrency: s.Concurrency, Rate: s.Rate, PerIP: s.PerIP, Scope: scope, Shard: shard,
	}
	if _, err := New(cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
