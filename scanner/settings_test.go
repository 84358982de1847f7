package scanner

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestScanSettingsConfig(t *testing.T) {
	cfg, err := Settings{
		Ports: "443, 25-26", Protocol: "auto", Resolvers: []string{"127.0.0.53"}, Timeout: 2 * time.Second,
		Concurrency: 4, Rate: 10, PerIP: 2, Scope: []string{"127.0.0.0/8"}, Shard: "2/3",
	}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Ports, []int{443, 25, 26}) || cfg.Shard != (Shard{Index: 2, Count: 3}) ||
		len(cfg.Scope) != 1 || !cfg.Scope.Allows(netip.MustParseAddr("127.1.2.3")) ||
		cfg.Timeout != 2*time.Second || cfg.Concurrency != 4 || cfg.Rate != 10 || cfg.PerIP != 2 || cfg.Resolvers[0] != "127.0.0.53" {
		t.Errorf("Config = %+v", cfg)
	}

	for _, tt := range []struct {
		s    Settings
		want string
	}{
		{Settings{Ports: "0"}, "--ports: "},
		{Settings{Ports: "443", Scope: []string{"nonsense"}}, "--scope: "},
		{Settings{Ports: "443", Shard: "3/2"}, "--shard: "},
		{Settings{Ports: "443", Protocol: "gopher"}, "scanner: unknown protocol"},
		{Settings{Ports: "443", Timeout: -time.Second}, "scanner: "},
	} {
		if _, err := tt.s.Config(); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q…", tt.s, err, tt.want)
		}
	}
}
