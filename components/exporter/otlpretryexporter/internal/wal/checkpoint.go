package wal

import (
	"bytes"
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
// Version 3 (written when the log carries a ledger, Options.Ledger): as
// version 2 with, between the ranges and the CRC,
//
//	16+16n   8     next sequence number when the checkpoint was taken: the
//	               records at or above it were appended after it
//	24+16n   4     m, the length of the ledger's bytes (<= maxCheckpointLedger)
//	28+16n   m     the ledger's bytes, opaque to the log, taken under the same
//	               lock as the ranges (see Options.Ledger)
//
// and "OWC3" as its first 4 bytes.
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
	// maxCheckpointLedger bounds the ledger's bytes.
	maxCheckpointLedger = 4096
)

// checkpointData is what a checkpoint file records.
type checkpointData struct {
	lwm   uint64
	acked ackSet
	// v3 only: next is the next sequence number at checkpoint time and
	// ledger the ledger's bytes (nil in older versions).
	next   uint64
	ledger []byte
}

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

// encodeCheckpointV3 appends a version 3 checkpoint: version 2's fields,
// next and the ledger's bytes.
func encodeCheckpointV3(dst []byte, lwm uint64, acked ackSet, next uint64, ledger []byte) []byte {
	acked = acked[:min(len(acked), maxCheckpointRanges)]
	if len(ledger) > maxCheckpointLedger {
		ledger = nil
	}
	start := len(dst)
	dst = append(dst, "OWC3"...)
	dst = binary.LittleEndian.AppendUint64(dst, lwm)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(acked)))
	for _, r := range acked {
		dst = binary.LittleEndian.AppendUint64(dst, r.from)
		dst = binary.LittleEndian.AppendUint64(dst, r.to)
	}
	dst = binary.LittleEndian.AppendUint64(dst, next)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(ledger)))
	dst = append(dst, ledger...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeCheckpoint returns the low-water mark and the acknowledged ranges
// above it that b records; ok is false (nothing is known to be acknowledged)
// when b is not a well-formed checkpoint.
func decodeCheckpoint(b []byte) (lwm uint64, acked ackSet, ok bool) {
	c, ok := decodeCheckpointData(b)
	return c.lwm, c.acked, ok
}

// decodeCheckpointData decodes every version.
func decodeCheckpointData(b []byte) (c checkpointData, ok bool) {
	if len(b) < checkpointV1Size {
		return c, false
	}
	le := binary.LittleEndian
	if string(b[:4]) == "OWC3" {
		if len(b) < checkpointV2Head+checkpointCRC {
			return c, false
		}
		n := le.Uint32(b[12:16])
		tail := checkpointV2Head + int(n)*checkpointRange
		if n > maxCheckpointRanges || len(b) < tail+12+checkpointCRC {
			return c, false
		}
		m := le.Uint32(b[tail+8:])
		if m > maxCheckpointLedger || len(b) != tail+12+int(m)+checkpointCRC {
			return c, false
		}
		// Checked as version 2 would be: the same head and ranges.
		body := len(b) - checkpointCRC
		if crc32.Checksum(b[:body], castagnoli) != le.Uint32(b[body:]) {
			return c, false
		}
		v2 := make([]byte, 0, tail+checkpointCRC)
		v2 = append(append(v2, "OWC2"...), b[4:tail]...)
		v2 = le.AppendUint32(v2, crc32.Checksum(v2, castagnoli))
		lwm, acked, ok := decodeCheckpointV12(v2)
		if !ok {
			return c, false
		}
		c = checkpointData{lwm: lwm, acked: acked, next: le.Uint64(b[tail:])}
		if m > 0 {
			c.ledger = append([]byte(nil), b[tail+12:tail+12+int(m)]...)
		}
		return c, true
	}
	c.lwm, c.acked, ok = decodeCheckpointV12(b)
	return c, ok
}

// decodeCheckpointV12 decodes versions 1 and 2.
func decodeCheckpointV12(b []byte) (lwm uint64, acked ackSet, ok bool) {
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
// empty one (then more is replayed, and no ledger is known).
func readCheckpoint(path string) checkpointData {
	b, err := os.ReadFile(path)
	if err != nil {
		return checkpointData{}
	}
	c, ok := decodeCheckpointData(b)
	if !ok {
		return checkpointData{}
	}
	return c
}

// CheckpointCoversAll reports whether the checkpoint file at path records
// at least one appended record and every record appended before it as
// acknowledged. A test that builds a crash image from a checkpoint waits
// for this instead of sleeping past the checkpoint interval, which a
// loaded machine can stretch.
func CheckpointCoversAll(path string) bool {
	c := readCheckpoint(path)
	return c.next > 0 && c.lwm >= c.next
}

// Checkpoint writes the checkpoint now if anything it records changed. The
// exporter calls it before a dead-letter file goes, so that the ledger on
// disk counts the file's outcome before the file is gone. Nil after Close.
func (l *Log) Checkpoint() error {
	if l.closed.Load() {
		return nil
	}
	return l.checkpoint()
}

// checkpoint records the low-water mark and the acknowledged ranges above
// it (and the ledger's bytes, with Options.Ledger), when they changed since
// the last checkpoint. ckptMu serializes its callers (background, Close,
// Checkpoint).
func (l *Log) checkpoint() error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.mu.Lock()
	gen := l.ackGen
	if l.opts.Ledger != nil {
		l.ledgerBuf = l.opts.Ledger(l.ledgerBuf[:0])
		if gen == l.ckptGen && bytes.Equal(l.ledgerBuf, l.ckptLedger) {
			l.mu.Unlock()
			return nil
		}
		l.ckptBuf = encodeCheckpointV3(l.ckptBuf[:0], l.lwm, l.acked, l.nextSeq, l.ledgerBuf)
	} else {
		if gen == l.ckptGen {
			l.mu.Unlock()
			return nil
		}
		l.ckptBuf = encodeCheckpoint(l.ckptBuf[:0], l.lwm, l.acked)
	}
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
	// ledgerBuf and ckptLedger are only touched under ckptMu.
	l.ckptLedger = append(l.ckptLedger[:0], l.ledgerBuf...)
	return nil
}
