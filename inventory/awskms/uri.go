package awskms

import (
	"fmt"
	"regexp"
	"strings"
)

// Scheme is the URI scheme of an AWS KMS source: awskms://REGION.
const Scheme = "awskms"

// regionRE is the shape of an AWS region name (us-east-1,
// us-gov-west-1, eu-central-2).
var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// IsURI reports whether raw names an AWS KMS source.
func IsURI(raw string) bool { return strings.HasPrefix(raw, Scheme+"://") }

// ParseURI returns the region of awskms://REGION (a trailing slash is
// allowed). Credentials and the endpoint are never part of the URI, and
// errors never repeat what was given after the scheme: it may hold a
// secret typed by mistake.
func ParseURI(raw string) (string, error) {
	rest, ok := strings.CutPrefix(raw, Scheme+"://")
	if !ok {
		return "", fmt.Errorf("awskms: not an %s:// URI", Scheme)
	}
	region := strings.TrimSuffix(rest, "/")
	if !regionRE.MatchString(region) {
		return "", fmt.Errorf("awskms: want %s://REGION and nothing else (credentials come from the AWS chain, the endpoint from the config): not a region name", Scheme)
	}
	return region, nil
}
