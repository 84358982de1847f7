//go:build !failpoints

// Package failpoint lets crash tests kill keyaudit at named points. It
// does nothing unless keyaudit is built with the failpoints tag (tests
// build such a binary); a release build ignores the environment.
package failpoint

// Hit does nothing in a build without the failpoints tag.
func Hit(string) {}
