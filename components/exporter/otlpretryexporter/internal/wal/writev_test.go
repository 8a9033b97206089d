package wal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteVecManyBuffers: more buffers than one pwritev takes (IOV_MAX),
// of every size from 1 byte, land in order at the offset.
func TestWriteVecManyBuffers(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "v"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var bufs [][]byte
	var want []byte
	for i := 0; i < 3*1024+7; i++ {
		b := bytes.Repeat([]byte{byte(i)}, 1+i%97)
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	const off = 8
	if err := writeVec(f, bufs, int64(len(want)), off); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[off:], want) || len(got) != off+len(want) {
		t.Fatalf("file holds %d bytes after the offset, want %d (or different bytes)", len(got)-off, len(want))
	}
}
