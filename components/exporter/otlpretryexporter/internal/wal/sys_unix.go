//go:build unix

package wal

import "github.com/otlpcol/otlpcol/components/pkg/fsdir"

// syncDir flushes the log directory's entries (see fsdir.Sync).
func syncDir(dir string) error { return fsdir.Sync(dir) }
