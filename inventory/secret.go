package inventory

import (
	"errors"
	"strings"
)

// Scrubber returns a function replacing each of secrets (PINs and
// passwords of at least 4 characters) in a message with "***" and cutting
// the message to its first line: a multi-line error (errors.Join) shows
// its first, followed by " (and more)".
func Scrubber(secrets []string) func(string) string {
	return func(msg string) string {
		for _, s := range secrets {
			if len(s) >= 4 {
				msg = strings.ReplaceAll(msg, s, "***")
			}
		}
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] + " (and more)"
		}
		return msg
	}
}

// ScrubError returns err with its message passed through scrub, or err
// itself (wrapping intact) when scrubbing changes nothing or scrub is nil.
func ScrubError(err error, scrub func(string) string) error {
	if err == nil || scrub == nil {
		return err
	}
	if msg := scrub(err.Error()); msg != err.Error() {
		return errors.New(msg)
	}
	return err
}
