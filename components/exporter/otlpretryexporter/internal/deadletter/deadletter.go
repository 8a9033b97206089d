// Package deadletter is the otlp_retry exporter's dead-letter directory: one
// OTLP protobuf file per batch given up on (an Export*ServiceRequest, the
// same bytes an OTLP/HTTP body carries), written atomically (temporary file,
// fsync, rename, fsync of the directory), bounded in bytes, and replayed
// oldest first. Nothing is ever removed to make room: a full store refuses
// the write (ErrFull). A file that cannot be decoded is moved aside into
// corrupt/, never deleted.
//
// File names sort by age: <unix nanos>-<sequence>-<items>.<signal>.pb.
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/otlpcol/otlpcol/components/pkg/fsdir"
)

// Signals a file can hold.
const (
	Traces  = "traces"
	Metrics = "metrics"
	Logs    = "logs"
)

const (
	suffix    = ".pb"
	tmpSuffix = ".tmp"
	// CorruptDir is the subdirectory files that cannot be decoded are moved to.
	CorruptDir = fsdir.CorruptDir
)

// ErrTooLarge is returned for a batch bigger than the whole directory bound.
var ErrTooLarge = errors.New("batch larger than dead_letter::max_bytes")

// ErrFull is returned by Write when the batch does not fit under max_bytes.
var ErrFull = errors.New("directory full (max_bytes reached)")

// ErrCorrupt, wrapped in a SendFunc's error, says the payload cannot be
// decoded: Replay moves the file aside into corrupt/ and goes on.
var ErrCorrupt = errors.New("file is not a valid OTLP request")

// IsDiskFull says whether err is the file system running out of space or quota.
func IsDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// Entry is one spooled batch.
type Entry struct {
	Name   string
	Signal string
	Items  int
	Size   int64
}

// Store is a bounded dead-letter directory, shared by every exporter
// instance that names the same directory (see Acquire).
type Store struct {
	dir      string
	maxBytes int64
	fsync    bool
	lock     *os.File // held while the store is open: one process a directory

	mu      sync.Mutex
	files   []Entry // oldest first
	size    int64
	pending int64 // bytes being written (reserved by WriteIfRoom and Write)
	seq     uint64
	refs    int
}

var (
	registryMu sync.Mutex
	registry   = map[string]*Store{}
)

// Acquire opens dir (creating it, checking it is writable, locking it
// against other processes, removing half-written files) or returns the
// Store already open for it in this process: the exporters of the three
// signals share one. Their settings must agree; a second Acquire with
// another maxBytes or fsync is refused rather than silently given the
// first one's. Each Acquire must be paired with a Release. With fsync,
// every file and the directory after each rename are flushed to stable
// storage, so that what was written survives a power loss, not only a
// process crash.
func Acquire(dir string, maxBytes int64, fsync bool) (*Store, error) {
	return acquire(dir, func(s *Store) error {
		if s.maxBytes != maxBytes || s.fsync != fsync {
			return fmt.Errorf("%s is already open in this process with max_bytes %d and fsync %v (asked: %d, %v): "+
				"exporters sharing a directory must configure it alike", s.dir, s.maxBytes, s.fsync, maxBytes, fsync)
		}
		return nil
	}, maxBytes, fsync)
}

// acquire returns the Store open for dir if agree accepts it, or opens one.
func acquire(dir string, agree func(*Store) error, maxBytes int64, fsync bool) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if s, ok := registry[abs]; ok {
		if err := agree(s); err != nil {
			return nil, err
		}
		s.refs++
		return s, nil
	}
	s, err := open(abs, maxBytes, fsync)
	if err != nil {
		return nil, err
	}
	s.refs = 1
	registry[abs] = s
	return s, nil
}

// Release gives back a Store obtained from Acquire; the last Release
// unlocks the directory.
func (s *Store) Release() {
	registryMu.Lock()
	defer registryMu.Unlock()
	s.refs--
	if s.refs == 0 {
		delete(registry, s.dir)
		_ = fsdir.Unlock(s.lock)
	}
}

func open(dir string, maxBytes int64, fsync bool) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create: %w", err)
	}
	probe, err := os.CreateTemp(dir, ".probe-*"+tmpSuffix)
	if err != nil {
		return nil, fmt.Errorf("not writable: %w", err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())
	// Like the write-ahead log: a second process on this directory would
	// replay and delete files the first one is still accounting for. The
	// directory itself is locked: no lock file among the spooled ones.
	lock, err := fsdir.Lock(dir)
	if err != nil {
		return nil, fmt.Errorf("%s is in use by another process: %w", dir, err)
	}
	s := &Store{dir: dir, maxBytes: maxBytes, fsync: fsync, lock: lock}
	ents, err := os.ReadDir(dir)
	if err != nil {
		_ = fsdir.Unlock(lock)
		return nil, err
	}
	for _, de := range ents {
		name := de.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		e, ok := parseName(name)
		if !ok {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		e.Size = info.Size() + noteSize(dir, name)
		s.files = append(s.files, e)
		s.size += e.Size
	}
	sort.Slice(s.files, func(i, j int) bool { return s.files[i].Name < s.files[j].Name })
	return s, nil
}

func parseName(name string) (Entry, bool) {
	if !strings.HasSuffix(name, suffix) {
		return Entry{}, false
	}
	base := strings.TrimSuffix(name, suffix)
	dot := strings.LastIndexByte(base, '.')
	if dot < 0 {
		return Entry{}, false
	}
	signal := base[dot+1:]
	if signal != Traces && signal != Metrics && signal != Logs {
		return Entry{}, false
	}
	parts := strings.Split(base[:dot], "-")
	if len(parts) != 3 {
		return Entry{}, false
	}
	items, err := strconv.Atoi(parts[2])
	if err != nil {
		return Entry{}, false
	}
	return Entry{Name: name, Signal: signal, Items: items}, true
}

// Dir is the directory's absolute path.
func (s *Store) Dir() string { return s.dir }

// Write spools one batch if it fits under max_bytes (counting writes in
// progress) and returns ErrFull otherwise, or ErrTooLarge for a batch larger
// than the whole bound: nothing is ever removed to make room.
func (s *Store) Write(signal string, items int, payload []byte) error {
	return s.write(signal, items, payload, nil)
}

// write is Write, with a note beside the file when note is not nil
// (WriteNoted), counted in the file's size.
func (s *Store) write(signal string, items int, payload, note []byte) error {
	size := int64(len(payload) + len(note))
	if s.maxBytes > 0 && size > s.maxBytes {
		return ErrTooLarge
	}
	s.mu.Lock()
	if s.maxBytes > 0 && s.size+s.pending+size > s.maxBytes {
		s.mu.Unlock()
		return ErrFull
	}
	s.pending += size
	s.seq++
	name := fmt.Sprintf("%020d-%06d-%d.%s%s", time.Now().UnixNano(), s.seq%1_000_000, items, signal, suffix)
	s.mu.Unlock()

	tmp := filepath.Join(s.dir, name+tmpSuffix)
	err := writeNote(s.dir, name, note, s.fsync)
	if err == nil {
		err = writeFile(tmp, payload, s.fsync)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, name))
	}
	if err == nil && s.fsync {
		err = fsdir.Sync(s.dir)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending -= size
	if err != nil {
		_ = os.Remove(tmp)
		_ = os.Remove(filepath.Join(s.dir, name))
		removeNote(s.dir, name)
		return err
	}
	e := Entry{Name: name, Signal: signal, Items: items, Size: size}
	// Names embed the time, so appending keeps the slice sorted except for
	// writers racing within the lock-free part above: insert in place.
	i := sort.Search(len(s.files), func(i int) bool { return s.files[i].Name > name })
	s.files = append(s.files, Entry{})
	copy(s.files[i+1:], s.files[i:])
	s.files[i] = e
	s.size += size
	return nil
}

func writeFile(path string, payload []byte, fsync bool) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(payload); err != nil {
		_ = f.Close()
		return err
	}
	if fsync {
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return err
		}
	}
	return f.Close()
}

// Oldest returns up to n spooled entries of signal ("" for all), oldest first.
func (s *Store) Oldest(signal string, n int) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Entry
	for _, e := range s.files {
		if signal == "" || e.Signal == signal {
			out = append(out, e)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// Read returns the payload of e.
func (s *Store) Read(e Entry) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, e.Name))
}

// Remove deletes e (after it was replayed).
func (s *Store) Remove(e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.files {
		if f.Name == e.Name {
			s.files = append(s.files[:i], s.files[i+1:]...)
			s.size -= f.Size
			break
		}
	}
	removeNote(s.dir, e.Name)
	err := os.Remove(filepath.Join(s.dir, e.Name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// SetAside moves e into the corrupt/ subdirectory, out of the replay and
// out of the max_bytes account, kept for inspection.
// An earlier file of the same name in corrupt/ is kept (fsdir.SetAside).
func (s *Store) SetAside(e Entry) error {
	if _, err := fsdir.SetAside(s.dir, filepath.Join(s.dir, e.Name), s.fsync); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.forget(e)
	return nil
}

func (s *Store) forget(e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.files {
		if f.Name == e.Name {
			s.files = append(s.files[:i], s.files[i+1:]...)
			s.size -= f.Size
			return
		}
	}
}

// Len is the number of spooled files; Bytes their total size.
func (s *Store) Len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.files) }

// BytesOf is the total size of the spooled files of signal.
func (s *Store) BytesOf(signal string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, e := range s.files {
		if e.Signal == signal {
			n += e.Size
		}
	}
	return n
}

// Bytes is the total size of the spooled files.
func (s *Store) Bytes() int64 { s.mu.Lock(); defer s.mu.Unlock(); return s.size }

// SendFunc sends one spooled batch; a nil error means the backend has it.
type SendFunc func(ctx context.Context, e Entry, payload []byte) error

// ReplayStats says what a replay did.
type ReplayStats struct {
	Files int
	Items int
	Bytes int64
	// Corrupt counts the files moved aside into corrupt/.
	Corrupt int
	// Kept counts the files ReplayDue kept after a failure of their own.
	Kept int
}
