package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// A record on disk is a 24-byte header followed by the payload:
//
//	offset size field
//	0      4    payload length (little endian, > 0, <= MaxRecordBytes)
//	4      4    CRC32C (Castagnoli) of bytes 0-3, 8-23 and the payload
//	8      8    sequence number
//	16     4    items (spans, data points or log records in the payload)
//	20     4    flags (0; reserved)
//
// The checksum covers everything but itself, so a flipped bit anywhere in a
// record, including its length, is detected.
const (
	headerSize = 24
	// MaxRecordBytes bounds one record's payload; a decoded length above it
	// is damage, not a record.
	MaxRecordBytes = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Decoding errors. errShort means the bytes end inside the record (a torn
// write when it is at the end of a segment); errChecksum and errHeader mean
// the record is damaged.
var (
	errShort    = errors.New("record truncated")
	errChecksum = errors.New("record checksum mismatch")
	errHeader   = errors.New("record header invalid")
)

type header struct {
	length uint32
	crc    uint32
	seq    uint64
	items  uint32
	flags  uint32
}

func recordChecksum(hdr []byte, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, hdr[0:4])
	c = crc32.Update(c, castagnoli, hdr[8:headerSize])
	return crc32.Update(c, castagnoli, payload)
}

// appendRecord appends the encoded record to dst.
func appendRecord(dst []byte, seq uint64, items uint32, payload []byte) []byte {
	return append(appendHeader(dst, seq, items, payload), payload...)
}

// appendHeader appends the header of the record holding payload to dst;
// the payload goes after it (the writer hands both to one pwritev).
func appendHeader(dst []byte, seq uint64, items uint32, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	hdr := dst[start : start+headerSize]
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(hdr[8:16], seq)
	binary.LittleEndian.PutUint32(hdr[16:20], items)
	binary.LittleEndian.PutUint32(hdr[20:24], 0)
	binary.LittleEndian.PutUint32(hdr[4:8], recordChecksum(hdr, payload))
	return dst
}

// parseHeader decodes a header without checking the checksum.
func parseHeader(b []byte) (header, error) {
	if len(b) < headerSize {
		return header{}, errShort
	}
	h := header{
		length: binary.LittleEndian.Uint32(b[0:4]),
		crc:    binary.LittleEndian.Uint32(b[4:8]),
		seq:    binary.LittleEndian.Uint64(b[8:16]),
		items:  binary.LittleEndian.Uint32(b[16:20]),
		flags:  binary.LittleEndian.Uint32(b[20:24]),
	}
	if h.length == 0 || h.length > MaxRecordBytes || h.flags != 0 {
		return h, errHeader
	}
	return h, nil
}

// decodeRecord decodes the record at the start of b. It returns the header,
// the payload (aliasing b) and the record's encoded size.
func decodeRecord(b []byte) (header, []byte, int, error) {
	h, err := parseHeader(b)
	if err != nil {
		return h, nil, 0, err
	}
	end := headerSize + int(h.length)
	if len(b) < end {
		return h, nil, 0, errShort
	}
	payload := b[headerSize:end]
	if recordChecksum(b[:headerSize], payload) != h.crc {
		return h, nil, 0, errChecksum
	}
	return h, payload, end, nil
}

// LargestPayload is the largest payload Append takes in a log of maxBytes:
// the record's header counts against maxBytes, and no payload exceeds
// MaxRecordBytes. Anything larger is ErrTooLarge, for good.
func LargestPayload(maxBytes int64) int64 {
	return max(0, min(int64(MaxRecordBytes), maxBytes-headerSize))
}

// MaxBytesFor is the least MaxBytes whose log takes a payload of n bytes
// (ok false: none does, n is over MaxRecordBytes).
func MaxBytesFor(n int64) (maxBytes int64, ok bool) {
	if n > MaxRecordBytes {
		return 0, false
	}
	return n + headerSize, true
}
