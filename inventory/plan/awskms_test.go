package plan

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/inventory"
)

// TestPlanAWSKMS: an awskms entry opens with the credentials of the AWS
// chain (dummy ones from the environment here: nothing is sent) and
// takes its endpoint from the config.
func TestPlanAWSKMS(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIAKEYAUDITTEST", "AWS_SECRET_ACCESS_KEY": "dummy-secret",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(dir, "c"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "k"), "AWS_PROFILE": ""} {
		t.Setenv(k, v)
	}
	sec := section(t, "sources:\n  - awskms: awskms://eu-west-2\n    endpoint: http://127.0.0.1:4599\n    owner: platform\n")
	p, err := New(Config{Section: sec})
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := p.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer inventory.CloseAll(srcs)
	if len(srcs) != 1 || srcs[0].Source.Name() != "awskms://eu-west-2 (http://127.0.0.1:4599)" || srcs[0].Defaults.Owner != "platform" {
		t.Fatalf("sources %+v", srcs)
	}

	for src, want := range map[string]string{
		"sources:\n  - awskms: awskms://nowhere\n":                "not a region name",
		"sources:\n  - awskms: awskms://eu-west-2\n    path: x\n": "give one of",
		"sources:\n  - awskms: awskms://AKIA:pw@eu-west-2\n":      "want awskms://REGION",
	} {
		_, err := New(Config{Section: section(t, src)})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), ":pw@") {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}
