package fsdir

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSetAsideNeverReplacesAnEarlierFile(t *testing.T) {
	dir := t.TempDir()
	var moved []string
	for i, body := range []string{"first", "second", "third"} {
		path := filepath.Join(dir, "000001.seg")
		if err := os.WriteFile(path, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
		to, err := SetAside(dir, path, i%2 == 0)
		if err != nil {
			t.Fatalf("SetAside %d: %v", i, err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("%s still in place after SetAside", path)
		}
		moved = append(moved, to)
	}
	want := []string{"000001.seg", "000001.seg.1", "000001.seg.2"}
	for i, to := range moved {
		if to != filepath.Join(dir, CorruptDir, want[i]) {
			t.Fatalf("file %d went to %s, want corrupt/%s", i, to, want[i])
		}
	}
	for i, body := range []string{"first", "second", "third"} {
		got, err := os.ReadFile(moved[i])
		if err != nil || string(got) != body {
			t.Fatalf("%s holds %q (%v), want %q", moved[i], got, err, body)
		}
	}
}

func TestSetAsideMissingFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := SetAside(dir, filepath.Join(dir, "gone"), true); !os.IsNotExist(err) {
		t.Fatalf("SetAside of a missing file: %v, want not exist", err)
	}
}

func TestLockRefusesASecondHolder(t *testing.T) {
	for _, path := range []string{filepath.Join(t.TempDir(), "LOCK"), t.TempDir()} {
		lockTwice(t, path)
	}
}

func lockTwice(t *testing.T, path string) {
	t.Helper()
	f, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := Lock(path); err == nil {
		_ = Unlock(g)
		t.Fatal("a second Lock of a held lock succeeded")
	}
	if err := Unlock(f); err != nil {
		t.Fatal(err)
	}
	g, err := Lock(path)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	_ = Unlock(g)
}
