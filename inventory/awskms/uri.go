package awskms

import (
	"errors"
	"fmt"
	"net/url"
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

// ParseURI returns the region of awskms://REGION. Credentials and the
// endpoint are never part of the URI.
func ParseURI(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("awskms: not a valid URI") // url's error would repeat raw
	}
	shown := u.Redacted()
	if u.Scheme != Scheme {
		return "", fmt.Errorf("awskms: %q: scheme is not %s://", shown, Scheme)
	}
	if u.User != nil || u.RawQuery != "" || (u.Path != "" && u.Path != "/") || u.Port() != "" || u.Fragment != "" {
		return "", fmt.Errorf("awskms: %q: want awskms://REGION and nothing else (credentials come from the AWS chain, the endpoint from the config)", shown)
	}
	if !regionRE.MatchString(u.Host) {
		return "", fmt.Errorf("awskms: %q: %q is not a region name", shown, u.Host)
	}
	return u.Host, nil
}
