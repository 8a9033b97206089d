package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// checkELF must refuse a binary of another architecture: the test binary
// itself is one of this machine's.
func TestCheckELF(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkELF(self, runtime.GOARCH); err != nil {
		t.Fatalf("checkELF(%s, %s): %v", self, runtime.GOARCH, err)
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	if err := checkELF(self, other); err == nil {
		t.Fatalf("checkELF accepted a %s binary as %s", runtime.GOARCH, other)
	}
	if err := checkELF(self, "riscv64"); err == nil {
		t.Fatal("checkELF accepted an unsupported arch")
	}
}

// The same inputs give the same archive bytes (reproducible releases), and
// SHA256SUMS names files relative to its own directory.
func TestArchiveReproducible(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in")
	if err := os.WriteFile(src, []byte("payload"), 0o600); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1700000000, 0)
	var out [2][]byte
	for i := range out {
		path := filepath.Join(dir, "otlpcol_1_linux_amd64.tar.gz")
		if err := writeArchive(path, mtime, []archiveFile{{name: "otlpcol", src: src, mode: 0o755}}); err != nil {
			t.Fatal(err)
		}
		var err error
		if out[i], err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
		// A later build: the source file's own times change, the archive must not.
		later := time.Now().Add(time.Duration(i+1) * time.Hour)
		if err := os.Chtimes(src, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Fatal("two archives of the same inputs differ")
	}

	sums := filepath.Join(dir, "SHA256SUMS")
	if err := writeSums(sums, []string{src}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(sums)
	// sha256("payload")
	want := "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5  in\n"
	if string(got) != want {
		t.Fatalf("SHA256SUMS = %q, want %q", got, want)
	}
}
