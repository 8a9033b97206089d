package wal

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Rotation failures on a real filesystem: a segment boundary reached while
// the disk is full, the log directory removed, the directory made immutable
// or read-only. Every Append must get an answer (an error, not a wait), the
// log must take appends again once the cause is gone (where it can be), and
// Close must return. The tests mount a tmpfs and need root.

const rotateSegment = 64 << 10

// mountTmpfs mounts a tmpfs of size on a fresh directory, unmounted when the
// test ends.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// answered is Append with a deadline: a call still waiting after it fails
// the test (the defect: the writer returned without answering).
func answered(t *testing.T, l *Log, p []byte) error {
	t.Helper()
	type res struct{ err error }
	ch := make(chan res, 1)
	go func() {
		_, err := l.Append(p, 1)
		ch <- res{err}
	}()
	select {
	case r := <-ch:
		return r.err
	case <-time.After(10 * time.Second):
		t.Fatal("Append got no answer within 10s (rotation failure left it waiting)")
		return nil
	}
}

// fillSegment appends 1 KiB records until the next one no longer fits the
// active segment; the record after it must rotate.
func fillSegment(t *testing.T, l *Log) {
	t.Helper()
	rec := bytes.Repeat([]byte{'r'}, 1<<10)
	for {
		l.mu.Lock()
		size := l.segs[len(l.segs)-1].size
		l.mu.Unlock()
		if size+int64(headerSize+len(rec)) > l.opts.SegmentBytes {
			return
		}
		if err := answered(t, l, rec); err != nil {
			t.Fatalf("filling the segment: %v", err)
		}
	}
}

// closeAnswers closes the log within a deadline (its error is the test's
// concern only where the directory is intact).
func closeAnswers(t *testing.T, l *Log) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- l.Close() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s")
		return nil
	}
}

// atBoundary opens a log in wal/ on a fresh tmpfs of size and fills its
// first segment: the next append must rotate.
func atBoundary(t *testing.T, size string) (l *Log, mnt, dir string) {
	t.Helper()
	mnt = mountTmpfs(t, size)
	dir = filepath.Join(mnt, "wal")
	l, _, err := Open(dir, Options{MaxBytes: 64 << 20, SegmentBytes: rotateSegment, MemoryBudget: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	fillSegment(t, l)
	return l, mnt, dir
}

// refusedThrice: three appends that must rotate, each answered with want.
func refusedThrice(t *testing.T, l *Log, want error, cause string) {
	t.Helper()
	for i := 0; i < 3; i++ {
		if err := answered(t, l, bytes.Repeat([]byte{'x'}, 1<<10)); !errors.Is(err, want) {
			t.Fatalf("append %d at the segment boundary with %s: got %v, want %v", i, cause, err, want)
		}
	}
}

// recovers: once the cause is gone the next append rotates and succeeds.
func recovers(t *testing.T, l *Log) {
	t.Helper()
	if err := answered(t, l, bytes.Repeat([]byte{'a'}, 1<<10)); err != nil {
		t.Fatalf("append once the cause is gone: %v", err)
	}
}

// closesClean: Close returns within its deadline, without an error.
func closesClean(t *testing.T, l *Log) {
	t.Helper()
	if err := closeAnswers(t, l); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestRotationFailsOnFullDisk(t *testing.T) {
	l, mnt, _ := atBoundary(t, "2m")
	segs := l.Stats().Segments
	// Fill what is left of the disk.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	for n := len(chunk) / 2; n > 0; n /= 2 { // the last pages too
		if _, err := f.Write(chunk[:n]); err != nil {
			continue
		}
	}
	_ = f.Close()

	before := l.Stats().Bytes
	refusedThrice(t, l, syscall.ENOSPC, "a full disk")
	if s := l.Stats(); s.Segments != segs || s.Bytes != before {
		t.Fatalf("after refused appends: %d segments, %d bytes; want %d and %d (nothing reserved)", s.Segments, s.Bytes, segs, before)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	recovers(t, l)
	if s := l.Stats().Segments; s != segs+1 {
		t.Fatalf("%d segments after the rotation, want %d", s, segs+1)
	}
	closesClean(t, l)
}

func TestRotationFailsWithDirectoryRemoved(t *testing.T) {
	l, _, dir := atBoundary(t, "16m")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	refusedThrice(t, l, os.ErrNotExist, "the directory removed")
	// The directory is gone with the lock and the checkpoint in it: Close
	// reports that, but returns.
	_ = closeAnswers(t, l)
}

func TestRotationFailsOnImmutableDirectory(t *testing.T) {
	l, _, dir := atBoundary(t, "16m")
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("chattr +i: %v: %s", err, out)
	}
	undo := func() { _ = exec.Command("chattr", "-i", dir).Run() }
	t.Cleanup(undo)
	refusedThrice(t, l, os.ErrPermission, "an immutable directory")
	undo()
	recovers(t, l)
	closesClean(t, l)
}

// TestRotationFailsOnReadOnlyDirectory bind-mounts the log directory
// read-only over itself: the open segment stays writable (its file was
// opened through the writable mount), a new one cannot be created.
func TestRotationFailsOnReadOnlyDirectory(t *testing.T) {
	l, _, dir := atBoundary(t, "16m")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	run("mount", "--bind", dir, dir)
	unmounted := false
	unmount := func() {
		if !unmounted {
			unmounted = true
			_ = exec.Command("umount", dir).Run()
		}
	}
	t.Cleanup(unmount)
	run("mount", "-o", "remount,bind,ro", dir)
	refusedThrice(t, l, syscall.EROFS, "a read-only directory")
	unmount()
	recovers(t, l)
	closesClean(t, l)
}
