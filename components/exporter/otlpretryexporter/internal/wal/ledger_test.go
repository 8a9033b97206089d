package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckpointV3RoundTrip(t *testing.T) {
	acked := ackSet{{9, 12}, {20, 21}}
	b := encodeCheckpointV3(nil, 7, acked, 30, []byte("ledger-bytes"))
	c, ok := decodeCheckpointData(b)
	if !ok || c.lwm != 7 || len(c.acked) != 2 || c.acked[1] != (seqRange{20, 21}) || c.next != 30 || string(c.ledger) != "ledger-bytes" {
		t.Fatalf("decoded %+v ok=%v", c, ok)
	}
	// The version 2 view of it is the same position.
	if lwm, a, ok := decodeCheckpoint(b); !ok || lwm != 7 || len(a) != 2 {
		t.Fatalf("decodeCheckpoint: %d %v %v", lwm, a, ok)
	}
	// Any damage: ignored as a whole.
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x40
		if _, ok := decodeCheckpointData(bad); ok {
			t.Fatalf("byte %d flipped: still decoded", i)
		}
	}
	// Versions 1 and 2 still read, without a ledger.
	for _, old := range [][]byte{legacyCheckpoint(5), encodeCheckpoint(nil, 5, acked)} {
		c, ok := decodeCheckpointData(old)
		if !ok || c.lwm != 5 || c.ledger != nil || c.next != 0 {
			t.Fatalf("old version: %+v %v", c, ok)
		}
	}
}

// TestLedgerBytesSurviveACrash: the ledger's bytes are those of the last
// checkpoint, consistent with the records it calls acknowledged, and the
// records appended after it are counted apart.
func TestLedgerBytesSurviveACrash(t *testing.T) {
	dir := t.TempDir()
	var appended atomic.Int64
	opts := Options{
		SegmentBytes: 4 << 10,
		OnAppend:     func(items int) { appended.Add(int64(items)) },
		Ledger: func(dst []byte) []byte {
			return binary.LittleEndian.AppendUint64(dst, uint64(appended.Load()))
		},
	}
	l, _ := open(t, dir, opts)
	appendN(t, l, 0, 10) // items i%7+1
	drain(t, l, 0, 4)
	if got, want := l.PendingItems(), int64(5+6+7+1+2+3); got != want {
		t.Fatalf("PendingItems %d, want %d", got, want)
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	atCheckpoint := appended.Load()
	appendN(t, l, 10, 3) // after the checkpoint: items 4+5+6
	crashed := copyDir(t, dir)

	l2, rec := open(t, crashed, Options{Ledger: opts.Ledger})
	if len(rec.Ledger) != 8 || int64(binary.LittleEndian.Uint64(rec.Ledger)) != atCheckpoint {
		t.Fatalf("Recovery.Ledger %v, want the checkpoint's %d", rec.Ledger, atCheckpoint)
	}
	if rec.ItemsAfterCheckpoint != 4+5+6 {
		t.Fatalf("ItemsAfterCheckpoint %d, want 15", rec.ItemsAfterCheckpoint)
	}
	if got, want := l2.PendingItems(), int64(5+6+7+1+2+3+4+5+6); got != want || rec.Items != want {
		t.Fatalf("PendingItems %d, Recovery.Items %d, want %d", got, rec.Items, want)
	}
	recs, err := l2.Next(context.Background(), 1000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	l2.Ack(recs)
	if l2.PendingItems() != 0 {
		t.Fatalf("PendingItems %d after acknowledging everything", l2.PendingItems())
	}
}

// TestCheckpointRewrittenWhenOnlyTheLedgerChanged: with no acknowledgement
// (a backend down) the ledger still reaches the disk.
func TestCheckpointRewrittenWhenOnlyTheLedgerChanged(t *testing.T) {
	dir := t.TempDir()
	var v atomic.Uint64
	l, _ := open(t, dir, Options{Ledger: func(dst []byte) []byte { return binary.LittleEndian.AppendUint64(dst, v.Load()) }})
	for i := uint64(1); i <= 2; i++ {
		v.Store(i)
		if err := l.Checkpoint(); err != nil {
			t.Fatal(err)
		}
		c := readCheckpoint(filepath.Join(dir, checkpointName))
		if len(c.ledger) != 8 || binary.LittleEndian.Uint64(c.ledger) != i {
			t.Fatalf("checkpoint ledger %v, want %d", c.ledger, i)
		}
	}
}

// TestLedgerCoversRemovedSegments: a segment whose records are all
// acknowledged is deleted; a crash right after must not find its records
// gone while the checkpoint's ledger still counts them as not delivered
// (the ledger would show them lost). The checkpoint is written first.
func TestLedgerCoversRemovedSegments(t *testing.T) {
	dir := t.TempDir()
	var delivered atomic.Int64
	opts := Options{
		SegmentBytes: 4 << 10,
		Ledger: func(dst []byte) []byte {
			return binary.LittleEndian.AppendUint64(dst, uint64(delivered.Load()))
		},
	}
	l, _ := open(t, dir, opts)
	appendN(t, l, 0, 200) // several segments
	segsBefore := len(walSegmentFiles(t, dir))
	require.Greater(t, segsBefore, 2)
	// Deliver (count, then acknowledge) everything, one batch at a time,
	// faster than the background checkpoint's tick.
	var acked int64
	for l.Pending() > 0 {
		recs, err := l.Next(context.Background(), 10, 1<<20)
		require.NoError(t, err)
		for _, r := range recs {
			delivered.Add(int64(r.Items))
			acked += int64(r.Items)
		}
		l.Ack(recs)
	}
	require.Less(t, len(walSegmentFiles(t, dir)), segsBefore, "no segment removed")
	crashed := copyDir(t, dir)
	_, rec := open(t, crashed, opts)
	onDisk := rec.Items
	persisted := int64(binary.LittleEndian.Uint64(rec.Ledger))
	// Every acknowledged item is either still on disk (replayed: a
	// duplicate) or counted in the persisted ledger; none is neither.
	require.GreaterOrEqual(t, persisted+onDisk, acked, "persisted delivered %d + on disk %d < acknowledged %d: items lost from the ledger's view", persisted, onDisk, acked)
}

func walSegmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	return m
}
