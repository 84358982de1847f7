//go:build !unix

package store

import "os"

// lockFile is a no-op where flock is unavailable: the in-process mutex
// still serialises this process's writers.
func lockFile(*os.File) error { return nil }
