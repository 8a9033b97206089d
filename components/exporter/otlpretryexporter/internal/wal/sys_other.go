//go:build !unix

package wal

import "os"

func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
}

func unlockDir(f *os.File) error { return f.Close() }

func syncDir(string) error { return nil }
