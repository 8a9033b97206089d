package wal

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
)

// The checkpoint file says what a restart need not replay. It is an
// optimisation: a lost, stale, torn or damaged checkpoint only means more is
// replayed (duplicates, never loss), so it is rewritten (a temporary file
// renamed into place) at most every checkpointEvery and never fsynced.
//
// Version 2 (written):
//
//	offset   size  field
//	0        4     "OWC2"
//	4        8     low-water mark: every sequence number below it is acknowledged
//	12       4     n, the number of ranges (<= maxCheckpointRanges)
//	16       16n   ranges [from, to) of acknowledged sequence numbers above the
//	               low-water mark: from > low-water mark, from < to, each
//	               range's to < the next range's from
//	16+16n   4     CRC32C of everything before it
//
// Version 1 (still read): "OWCK" | low-water mark u64 | CRC32C of the first
// 12 bytes, 16 bytes. Everything little endian. A file that is neither, or
// whose checksum or ranges do not hold, is ignored as a whole.
const (
	checkpointName   = "checkpoint"
	checkpointV1Size = 16
	checkpointV2Head = 16
	checkpointRange  = 16
	checkpointCRC    = 4
	// maxCheckpointRanges bounds the file (64 KiB of ranges). Ranges beyond
	// it are left out: their records are replayed.
	maxCheckpointRanges = 4096
)

// encodeCheckpoint appends a version 2 checkpoint of lwm and the first
// maxCheckpointRanges ranges of acked to dst.
func encodeCheckpoint(dst []byte, lwm uint64, acked ackSet) []byte {
	acked = acked[:min(len(acked), maxCheckpointRanges)]
	start := len(dst)
	dst = append(dst, "OWC2"...)
	dst = binary.LittleEndian.AppendUint64(dst, lwm)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(acked)))
	for _, r := range acked {
		dst = binary.LittleEndian.AppendUint64(dst, r.from)
		dst = binary.LittleEndian.AppendUint64(dst, r.to)
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeCheckpoint returns the low-water mark and the acknowledged ranges
// above it that b records; ok is false (nothing is known to be acknowledged)
// when b is not a well-formed checkpoint.
func decodeCheckpoint(b []byte) (lwm uint64, acked ackSet, ok bool) {
	if len(b) < checkpointV1Size {
		return 0, nil, false
	}
	le := binary.LittleEndian
	switch string(b[:4]) {
	case "OWCK":
		if len(b) != checkpointV1Size || crc32.Checksum(b[:12], castagnoli) != le.Uint32(b[12:]) {
			return 0, nil, false
		}
		return le.Uint64(b[4:12]), nil, true
	case "OWC2":
		n := le.Uint32(b[12:16])
		if n > maxCheckpointRanges || len(b) != checkpointV2Head+int(n)*checkpointRange+checkpointCRC {
			return 0, nil, false
		}
		body := len(b) - checkpointCRC
		if crc32.Checksum(b[:body], castagnoli) != le.Uint32(b[body:]) {
			return 0, nil, false
		}
		lwm = le.Uint64(b[4:12])
		if n > 0 {
			acked = make(ackSet, n)
		}
		floor := lwm // every range starts above the previous end (or the mark)
		for i := range acked {
			off := checkpointV2Head + i*checkpointRange
			r := seqRange{from: le.Uint64(b[off:]), to: le.Uint64(b[off+8:])}
			if r.from <= floor || r.from >= r.to {
				return 0, nil, false
			}
			acked[i] = r
			floor = r.to
		}
		return lwm, acked, true
	}
	return 0, nil, false
}

// readCheckpoint reads dir's checkpoint; a missing or damaged one is an
// empty one (then more is replayed).
func readCheckpoint(path string) (uint64, ackSet) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, nil
	}
	lwm, acked, ok := decodeCheckpoint(b)
	if !ok {
		return 0, nil
	}
	return lwm, acked
}

// checkpoint records the low-water mark and the acknowledged ranges above
// it, when they changed since the last checkpoint. Only one goroutine calls
// it at a time (background, then Close after background ended).
func (l *Log) checkpoint() error {
	l.mu.Lock()
	gen := l.ackGen
	if gen == l.ckptGen {
		l.mu.Unlock()
		return nil
	}
	l.ckptBuf = encodeCheckpoint(l.ckptBuf[:0], l.lwm, l.acked)
	l.mu.Unlock()
	path := filepath.Join(l.dir, checkpointName)
	if err := os.WriteFile(path+".tmp", l.ckptBuf, 0o640); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	l.mu.Lock()
	l.ckptGen = gen
	l.mu.Unlock()
	return nil
}
