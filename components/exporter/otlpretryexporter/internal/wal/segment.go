package wal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/otlpcol/otlpcol/components/pkg/fsdir"
)

// A segment file starts with an 8-byte magic (format version 1) and holds
// records with consecutive sequence numbers; it is named after the first:
// %020d.seg, so that names sort in log order.
const (
	segmentSuffix = ".seg"
	segmentMagic  = "OTLPWAL\x01"
	magicSize     = int64(len(segmentMagic))
	corruptDir    = fsdir.CorruptDir
)

func segmentName(firstSeq uint64) string {
	return fmt.Sprintf("%020d%s", firstSeq, segmentSuffix)
}

// parseSegmentName returns the first sequence number a segment name carries.
func parseSegmentName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(base) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(base, 10, 64)
	return seq, err == nil
}

// segment is one file of the log.
type segment struct {
	firstSeq uint64
	path     string
	f        *os.File
	size     int64  // bytes written (and published) so far
	lastSeq  uint64 // last sequence number written; valid when records > 0
	records  int64  // records in the file
	corrupt  bool   // damaged while the log ran: set aside instead of deleted
}

// scanState says how a scan ended.
type scanState int

const (
	scanClean   scanState = iota // every byte belongs to a valid record
	scanTorn                     // the bytes end inside a record (or in a zero tail)
	scanCorrupt                  // a damaged record with more bytes after it
)

// scanResult is what scanning one segment found.
type scanResult struct {
	state   scanState
	valid   int64 // offset just after the last valid record
	records int64
	lastSeq uint64
	cause   error
}

// scanSegment reads a segment of size bytes from r, verifying the magic,
// every checksum and the sequence numbers (the first is firstSeq, then +1).
// visit is called for every valid record, in order, with the record's
// offset; the payload is only valid during the call.
func scanSegment(r io.Reader, size int64, firstSeq uint64, visit func(h header, off int64, payload []byte)) scanResult {
	res := scanResult{valid: 0}
	br := bufio.NewReaderSize(r, int(min(max(size, 4096), 1<<20)))
	magic := make([]byte, magicSize)
	if n, err := io.ReadFull(br, magic); err != nil {
		if isZero(magic[:n]) {
			return scanResult{state: scanTorn, cause: errShort}
		}
		return scanResult{state: scanCorrupt, cause: fmt.Errorf("segment header: %w", errShort)}
	}
	if string(magic) != segmentMagic {
		return scanResult{state: scanCorrupt, cause: errors.New("segment magic mismatch")}
	}
	off := magicSize
	res.valid = off
	want := firstSeq
	var hdr [headerSize]byte
	var buf []byte
	for off < size {
		rest := size - off
		if rest < headerSize {
			// Too short for a header: only a torn write ends like this.
			return tornOrCorrupt(res, true, errShort)
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return tornOrCorrupt(res, true, errShort)
		}
		h, err := parseHeader(hdr[:])
		if err != nil {
			// A zero tail is a torn write (the size grew before the data
			// reached the disk); anything else is damage.
			zero := isZero(hdr[:]) && restIsZero(br)
			return tornOrCorrupt(res, zero, err)
		}
		end := off + headerSize + int64(h.length)
		if end > size {
			return tornOrCorrupt(res, true, errShort)
		}
		if cap(buf) < int(h.length) {
			buf = make([]byte, h.length)
		}
		buf = buf[:h.length]
		if _, err := io.ReadFull(br, buf); err != nil {
			return tornOrCorrupt(res, true, errShort)
		}
		if recordChecksum(hdr[:], buf) != h.crc {
			// The last record's checksum failing is a partly written
			// record; one in the middle is damage.
			return tornOrCorrupt(res, end == size, errChecksum)
		}
		if h.seq != want {
			return tornOrCorrupt(res, false, fmt.Errorf("sequence %d, want %d", h.seq, want))
		}
		visit(h, off, buf)
		res.records++
		res.lastSeq = h.seq
		want++
		off = end
		res.valid = off
	}
	return res
}

func tornOrCorrupt(res scanResult, torn bool, cause error) scanResult {
	res.state = scanCorrupt
	if torn {
		res.state = scanTorn
	}
	res.cause = cause
	return res
}

func isZero(b []byte) bool {
	return len(bytes.TrimLeft(b, "\x00")) == 0
}

func restIsZero(r io.Reader) bool {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if !isZero(buf[:n]) {
			return false
		}
		if err != nil {
			return true
		}
	}
}

// listSegments returns the segment files of dir in log order.
func listSegments(dir string) ([]*segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []*segment
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		seq, ok := parseSegmentName(e.Name())
		if !ok {
			continue
		}
		segs = append(segs, &segment{firstSeq: seq, path: filepath.Join(dir, e.Name())})
	}
	return segs, nil // os.ReadDir sorts by name, which is log order
}
