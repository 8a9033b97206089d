//go:build !linux

package wal

import "os"

// writeVec writes bufs (n bytes together) to f at off, joined.
func writeVec(f *os.File, bufs [][]byte, n int64, off int64) error {
	b := make([]byte, 0, n)
	for _, p := range bufs {
		b = append(b, p...)
	}
	_, err := f.WriteAt(b, off)
	return err
}
