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

// FuzzDecodeCheckpoint feeds arbitrary bytes, and arbitrary ranges under a
// valid checksum, to the checkpoint decoder: what it accepts is well formed
// (ranges sorted, disjoint, above the low-water mark) and exactly what the
// encoder writes. Then it damages a
// valid checkpoint built from the input (a cut and a flipped byte): the
// decoder must never claim a number acknowledged that was not, since that
// record would be skipped at the next start.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add(legacyCheckpoint(42), uint16(0), byte(0), uint16(0))
	f.Add(encodeCheckpoint(nil, 7, ackSet{{9, 12}, {20, 21}}), uint16(13), byte(1), uint16(30))
	f.Add(encodeCheckpoint(nil, 0, nil), uint16(4), byte(0x80), uint16(0))
	f.Add([]byte("OWC2\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff"), uint16(0), byte(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, at uint16, flip byte, cut uint16) {
		wellFormed := func(b []byte) {
			lwm, acked, ok := decodeCheckpoint(b)
			if !ok {
				return
			}
			floor := lwm
			for _, r := range acked {
				if r.from <= floor || r.from >= r.to {
					t.Fatalf("accepted ranges %v above %d", acked, lwm)
				}
				floor = r.to
			}
			re := encodeCheckpoint(nil, lwm, acked)
			if string(b[:4]) == "OWCK" {
				re = legacyCheckpoint(lwm)
			}
			if !bytes.Equal(re, b) {
				t.Fatalf("decoded %d %v does not re-encode to its bytes", lwm, acked)
			}
		}
		wellFormed(data)
		// Ranges straight from the input, in any order, under a valid
		// checksum: accepted only when well formed.
		var raw ackSet
		for i := 0; i+1 < len(data) && len(raw) < maxCheckpointRanges; i += 2 {
			raw = append(raw, seqRange{from: uint64(data[i]), to: uint64(data[i+1])})
		}
		wellFormed(encodeCheckpoint(nil, uint64(at%64), raw))
		// A valid checkpoint whose ranges come from the input's bytes.
		var want ackSet
		lwm := uint64(len(data))
		next := lwm + 1
		for i := 0; i+1 < len(data) && len(want) < maxCheckpointRanges; i += 2 {
			from := next + uint64(data[i])
			want = append(want, seqRange{from: from, to: from + 1 + uint64(data[i+1])})
			next = want[len(want)-1].to + 1
		}
		good := encodeCheckpoint(nil, lwm, want)
		bad := bytes.Clone(good)
		if len(bad) > 0 {
			bad[int(at)%len(bad)] ^= flip
		}
		bad = bad[:len(bad)-int(cut)%(len(bad)+1)]
		gotLWM, got, ok := decodeCheckpoint(bad)
		if !ok {
			return // ignored: everything is replayed
		}
		if !covered(lwm, want, 0, gotLWM) {
			t.Fatalf("damaged checkpoint moved the low-water mark %d -> %d over unacknowledged numbers", lwm, gotLWM)
		}
		for _, r := range got {
			if !covered(lwm, want, r.from, r.to) {
				t.Fatalf("damaged checkpoint acknowledges %v, which was not", r)
			}
		}
	})
}

// covered says whether every number in [from, to) is below lwm or in acked.
func covered(lwm uint64, acked ackSet, from, to uint64) bool {
	from = max(from, lwm)
	if from >= to {
		return true
	}
	i := acked.search(from) - 1
	return i >= 0 && acked[i].to >= to
}
