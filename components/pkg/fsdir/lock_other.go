//go:build !unix

package fsdir

import "os"

// Lock opens path; without flock there is no lock.
func Lock(path string) (*os.File, error) { return openLockable(path) }
