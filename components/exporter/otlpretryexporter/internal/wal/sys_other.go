//go:build !unix

package wal

func syncDir(string) error { return nil }
