// Package fsdir holds what every component that keeps files (the dead
// letter, the write-ahead log, guarded_file_storage) needs from a
// directory: durable entries (Sync), one owner at a time (Lock), and one
// rule for setting damaged files aside into corrupt/ (SetAside).
package fsdir

import "os"

// Sync flushes a directory's entries: a file created, renamed or removed is
// only durable once its directory is.
func Sync(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
