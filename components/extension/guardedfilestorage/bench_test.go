package guardedfilestorage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"
)

// BenchmarkCheckFile is the start-up cost of the guard: one check of a queue
// file of 256 MiB (32,768 items of 8 KiB), child process included.
func BenchmarkCheckFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), queueFile)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	item := make([]byte, 8<<10)
	for batch := range 32 {
		err := db.Update(func(tx *bbolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("default"))
			if err != nil {
				return err
			}
			for i := range 1024 {
				if err := bk.Put(fmt.Appendf(nil, "%d", batch*1024+i), item); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(256 << 20)
	b.ResetTimer()
	for b.Loop() {
		if v, said := checkFile(context.Background(), path, defaultCheckTimeout); v != healthy {
			b.Fatalf("verdict %v: %s", v, said)
		}
	}
}
