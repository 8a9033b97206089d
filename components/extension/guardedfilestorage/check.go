package guardedfilestorage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// A database file is checked in a child process: this same binary, run
// again with checkEnv naming the file. bbolt reads the file through mmap and
// walks its pages in goroutines of its own, so a damaged page can panic
// where no recover() reaches, or fault on an address past the end of the
// file (SIGBUS), which Go cannot turn into an error at all. Either would
// stop the collector, at every start: the crash loop of contrib #35899.
// A child that crashes tells us the same thing and nothing is lost.
const checkEnv = "OTLPCOL_GUARDED_FILE_STORAGE_CHECK"

// The child's exit codes. A Go panic or fatal fault exits with 2.
const (
	exitHealthy   = 0
	exitPanicked  = 2
	exitDamaged   = 3
	exitUnchecked = 4
)

func init() {
	if path := os.Getenv(checkEnv); path != "" {
		os.Exit(checkMain(path, os.Stderr))
	}
}

// checkMain is the child: it opens the file read-only the way file_storage
// will (the free page list rebuilt by walking every page, as with
// NoFreelistSync), runs bbolt's consistency check and reads every key and
// value of every bucket, as the queue will. Findings go to w.
func checkMain(path string, w io.Writer) int {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		ReadOnly:        true,
		Timeout:         time.Second,
		PreLoadFreelist: true,
		NoFreelistSync:  true,
		FreelistType:    bbolt.FreelistMapType,
	})
	if err != nil {
		fmt.Fprintln(w, err)
		if unreadable(err) {
			return exitUnchecked
		}
		return exitDamaged
	}
	defer db.Close()
	problems := 0
	err = db.View(func(tx *bbolt.Tx) error {
		for e := range tx.Check() {
			if problems < 5 {
				fmt.Fprintln(w, e)
			}
			problems++
		}
		if problems > 0 {
			return nil
		}
		return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error { return readBucket(b) })
	})
	if err != nil {
		fmt.Fprintln(w, err)
		return exitDamaged
	}
	if problems > 0 {
		return exitDamaged
	}
	return exitHealthy
}

// sum keeps the reads of readBucket from being optimised away.
var sum byte

// readBucket touches every byte of every value, nested buckets included.
func readBucket(b *bbolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nested := b.Bucket(k); nested != nil {
				return readBucket(nested)
			}
			return nil
		}
		for _, x := range v {
			sum ^= x
		}
		return nil
	})
}

// unreadable is an error that says nothing about the file's content: it is
// locked by another process, absent, not permitted, or could not be mapped.
func unreadable(err error) bool {
	var pathErr *fs.PathError
	var errno syscall.Errno
	return errors.Is(err, berrors.ErrTimeout) || errors.As(err, &pathErr) || errors.As(err, &errno)
}

type verdict int

const (
	healthy verdict = iota
	damaged
	unchecked
)

// checkFile runs the check of path in a child process and returns its
// verdict with what the child said. A crash of the child (a panic or a
// fault while reading the file) is damage; so is a check that outlasts
// timeout. A child that could not look at the content, or could not run,
// leaves the verdict open: the file is then used as it is.
func checkFile(ctx context.Context, path string, timeout time.Duration) (verdict, string) {
	exe, err := os.Executable()
	if err != nil {
		return unchecked, err.Error()
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe)
	cmd.Env = append(os.Environ(), checkEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &capped{w: &stderr, left: 4096}
	err = cmd.Run()
	said := summary(stderr.String())
	var exit *exec.ExitError
	switch {
	case err == nil:
		return healthy, ""
	case ctx.Err() != nil:
		return unchecked, "start cancelled"
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		return damaged, fmt.Sprintf("the check did not finish within check_timeout (%s)", timeout)
	case errors.As(err, &exit) && (exit.ExitCode() == exitDamaged || exit.ExitCode() == exitPanicked):
		return damaged, said
	default:
		return unchecked, strings.TrimSpace(err.Error() + "; " + said)
	}
}

// summary is the first lines of what the child said: the error, or the
// panic's message and not its goroutine dump.
func summary(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "goroutine ") || len(lines) == 3 {
			break
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "; ")
}

// capped keeps the first left bytes written to it and drops the rest.
type capped struct {
	w    io.Writer
	left int
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if c.left > 0 {
		k := min(n, c.left)
		c.left -= k
		if _, err := c.w.Write(p[:k]); err != nil {
			return 0, err
		}
	}
	return n, nil
}
