package wal

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record decoder and to the
// segment scanner recovery uses. Neither may panic, and whatever they accept
// must be exactly what the encoder writes for those records.
func FuzzDecodeRecord(f *testing.F) {
	seg := []byte(segmentMagic)
	for i := uint64(0); i < 3; i++ {
		seg = appendRecord(seg, 7+i, uint32(i+1), []byte("payload"))
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(appendRecord(nil, 1, 1, []byte{0}))
	bad := bytes.Clone(seg)
	bad[len(segmentMagic)+headerSize] ^= 1
	f.Add(bad)
	f.Add(append(bytes.Clone(seg), make([]byte, 40)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, payload, n, err := decodeRecord(data); err == nil {
			if n > len(data) || !bytes.Equal(appendRecord(nil, h.seq, h.items, payload), data[:n]) {
				t.Fatalf("decoded record does not re-encode to its %d bytes", n)
			}
		}
		if len(data) < int(magicSize) {
			return
		}
		first := uint64(7)
		if h, err := parseHeader(data[magicSize:]); err == nil {
			first = h.seq
		}
		var re []byte
		re = append(re, data[:magicSize]...)
		res := scanSegment(bytes.NewReader(data), int64(len(data)), first, func(h header, off int64, payload []byte) {
			if off != int64(len(re)) {
				t.Fatalf("record at %d, expected at %d", off, len(re))
			}
			re = appendRecord(re, h.seq, h.items, payload)
		})
		if res.valid > int64(len(data)) || (res.state == scanClean && res.valid != int64(len(data))) {
			t.Fatalf("scan %+v of %d bytes", res, len(data))
		}
		if res.records > 0 && !bytes.Equal(re, data[:res.valid]) {
			t.Fatal("scanned records do not re-encode to the valid prefix")
		}
	})
}
