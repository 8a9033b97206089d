package reliability

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// Scenarios of otlp_retry's write-ahead log (persistent_queue, what
// configs/gateway.yaml ships): damage while stopped, SIGKILL with fsync
// always, and an outage that fills the log to max_bytes.

// walRecord is one record of a segment file, read the way the component
// README documents the format (8-byte magic, then 24-byte headers:
// length u32 | crc u32 | seq u64 | items u32 | flags u32, then the payload).
type walRecord struct {
	off, size int64
	spanIDs   []string
}

func walSegments(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "wal", "traces", "*.seg"))
	require.NoError(t, err)
	sort.Strings(segs)
	return segs
}

func walRecords(t *testing.T, path string) []walRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var recs []walRecord
	for off := int64(8); off+24 <= int64(len(b)); {
		n := int64(binary.LittleEndian.Uint32(b[off:]))
		end := off + 24 + n
		require.LessOrEqual(t, end, int64(len(b)), "record at %d of %s runs past the end", off, path)
		req := ptraceotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(b[off+24:end]))
		var ids []string
		for sp := range harness.Spans(req.Traces()) {
			ids = append(ids, sp.SpanID().String())
		}
		recs = append(recs, walRecord{off: off, size: end - off, spanIDs: ids})
		off = end
	}
	return recs
}

func without(ids []string, drop []string) []string {
	gone := map[string]bool{}
	for _, id := range drop {
		gone[id] = true
	}
	var out []string
	for _, id := range ids {
		if !gone[id] {
			out = append(out, id)
		}
	}
	return out
}

// walOutageLoad runs the gateway with the backend down, sends batches of 20
// spans, kills the gateway (SIGKILL: with fsync always, the log holds every
// accepted request) and returns the accepted span IDs. A stop (SIGTERM)
// would let the shutdown drain move the log into the dead letter, as much
// of it as drain_timeout allows while the circuit is still closed: how many
// segments stay then depends on the machine's load (seen: 1 of ~12). Batches
// of one request keep the log's layout regular.
func walOutageLoad(t *testing.T, sink *harness.Sink, dir string, batches int, set ...string) []string {
	t.Helper()
	sink.SetFailure(outage)
	c := startFaultGateway(t, sink, dir, append(set, "exporters::otlp_retry::persistent_queue::drain_timeout=1s",
		"exporters::otlp_retry::persistent_queue::batch_size=20")...)
	// The log has room for all of it.
	sent := sendAll(t, c.GRPCEndpoint(), loadSpec{scenario: "wal", workers: 2, spansPerBatch: 20,
		interval: 2 * time.Millisecond, maxBatches: batches / 2})
	c.Kill()
	require.Zero(t, count(sent, sink.SpanIDs()).delivered, "the backend was down: nothing should have arrived")
	return sent
}

// TestWALTornTail: the last segment is cut in the middle of its last record
// while the gateway is stopped (a crash during a write). It starts, counts
// the torn tail, and delivers every other record.
func TestWALTornTail(t *testing.T) {
	needBinary(t)
	o := record(t)
	sink := harness.StartSink(t)
	dir := t.TempDir()
	sent := walOutageLoad(t, sink, dir, 40)
	segs := walSegments(t, dir)
	var last string
	var recs []walRecord
	for i := len(segs) - 1; i >= 0 && recs == nil; i-- {
		last, recs = segs[i], walRecords(t, segs[i])
	}
	require.NotEmpty(t, recs, "no records in %v", segs)
	torn := recs[len(recs)-1]
	require.NoError(t, os.Truncate(last, torn.off+torn.size/2))

	sink.SetFailure(nil)
	c := startFaultGateway(t, sink, dir)
	want := without(sent, torn.spanIDs)
	tl := waitDelivered(want, 30*time.Second, sink)
	tl.fill(o)
	o.PeakRSS = peakRSS(c)
	t.Logf("%d spans accepted, %d in the torn record; delivered %d of the rest, duplicates %d",
		len(sent), len(torn.spanIDs), tl.delivered, tl.duplicates)
	require.Zero(t, tl.lost, "lost spans outside the torn record, e.g. %v", tl.missing)
	require.Equal(t, 1.0, metric(t, c, "otelcol_otlp_retry_wal_torn_tails", `signal="traces"`))
	requireAlive(t, c)
}

// TestWALFlippedByteMiddleSegment: one byte of a record in a middle segment
// is flipped while the gateway is stopped. That segment is moved to corrupt/
// and counted; every record of the other segments is delivered.
func TestWALFlippedByteMiddleSegment(t *testing.T) {
	needBinary(t)
	o := record(t)
	sink := harness.StartSink(t)
	dir := t.TempDir()
	small := []string{"exporters::otlp_retry::persistent_queue::segment_bytes=16384"}
	sent := walOutageLoad(t, sink, dir, 100, small...)
	segs := walSegments(t, dir)
	require.GreaterOrEqual(t, len(segs), 3, "want at least three segments")
	mid := segs[len(segs)/2]
	recs := walRecords(t, mid)
	require.NotEmpty(t, recs)
	var lostIDs []string
	for _, r := range recs {
		lostIDs = append(lostIDs, r.spanIDs...)
	}
	b, err := os.ReadFile(mid)
	require.NoError(t, err)
	b[recs[0].off+24+recs[0].size/2] ^= 0x01 // a payload byte of its first record
	require.NoError(t, os.WriteFile(mid, b, 0o600))

	sink.SetFailure(nil)
	c := startFaultGateway(t, sink, dir, small...)
	want := without(sent, lostIDs)
	tl := waitDelivered(want, 30*time.Second, sink)
	tl.fill(o)
	o.PeakRSS = peakRSS(c)
	t.Logf("%d segments, %d spans accepted, %d in the damaged segment; delivered %d of the rest",
		len(segs), len(sent), len(lostIDs), tl.delivered)
	require.Zero(t, tl.lost, "lost spans outside the damaged segment, e.g. %v", tl.missing)
	require.Equal(t, 1.0, metric(t, c, "otelcol_otlp_retry_wal_corrupt_segments", `signal="traces"`))
	_, err = os.Stat(filepath.Join(dir, "wal", "traces", "corrupt", filepath.Base(mid)))
	require.NoError(t, err, "the damaged segment is not kept in corrupt/")
	requireAlive(t, c)
}

// TestWALSIGKILLUnderLoadFsyncAlways: clients keep sending while the
// gateway (fsync: always) is killed with SIGKILL; after the restart every
// span a client was told OK for is delivered. (A SIGKILL keeps the page
// cache, so this proves the OK comes after the write; fsync: always adds the
// node crash, which a process-level test cannot show.)
func TestWALSIGKILLUnderLoadFsyncAlways(t *testing.T) {
	needBinary(t)
	o := record(t)
	always := "exporters::otlp_retry::persistent_queue::fsync=always"
	sink, dir, c := startDownGateway(t, always)
	l := startLoad(t, c.GRPCEndpoint(), loadSpec{scenario: "wal-sigkill", workers: 4, spansPerBatch: 20,
		interval: time.Millisecond, maxBatches: 100000})
	time.Sleep(2 * time.Second)
	// Let the backend accept part of it, so that acknowledged segments,
	// records in flight and queued records all exist at the kill.
	sink.SetFailure(nil)
	time.Sleep(time.Second)
	require.Positive(t, metric(t, c, "otelcol_otlp_retry_wal_fsyncs", `signal="traces"`), "no fdatasync with fsync: always")
	sent, peak := killUnderLoad(t, c, l)
	deliveredAfterKill(t, o, sink, dir, sent, peak, 60*time.Second, always)
}

// TestWALOutageFillsMaxBytes: the backend is down and the log reaches
// max_bytes: new data is refused with a retryable code (counted as
// refused_items{reason="wal_full"}), nothing is dropped, and once the backend
// returns every accepted span is delivered and the log takes data again.
func TestWALOutageFillsMaxBytes(t *testing.T) {
	needBinary(t)
	o := record(t)
	sink, _, c := startDownGateway(t,
		"exporters::otlp_retry::persistent_queue::max_bytes=33554432", // the smallest validate allows
		"exporters::otlp_retry::persistent_queue::segment_bytes=1048576")
	l := startLoad(t, c.GRPCEndpoint(), loadSpec{scenario: "wal-full", workers: 2, spansPerBatch: 20,
		interval: 2 * time.Millisecond, maxBatches: 100000, attrBytes: 2048}) // 32 MiB in about 800 requests
	require.True(t, waitFor(60*time.Second, func() bool { return len(l.Refused()) > 0 }), "never refused with a full log")
	time.Sleep(500 * time.Millisecond)
	l.Stop()
	sent := l.Accepted()
	refused := l.Refused()
	for code := range refused {
		require.Contains(t, []codes.Code{codes.Unavailable, codes.ResourceExhausted}, code, "refusal not retryable: %v", refused)
	}
	require.Positive(t, metric(t, c, "otelcol_otlp_retry_refused_items", `reason="wal_full"`))
	require.LessOrEqual(t, metric(t, c, "otelcol_otlp_retry_wal_bytes", `signal="traces"`), 33554432.0)

	sink.SetFailure(nil)
	tl := waitDelivered(sent, 60*time.Second, sink)
	tl.fill(o)
	o.PeakRSS = peakRSS(c)
	t.Logf("accepted %d spans, refused %v; delivered %d, duplicates %d", len(sent), refused, tl.delivered, tl.duplicates)
	require.Zero(t, tl.lost, "lost spans, e.g. %v", tl.missing)
	requireNothingDropped(t, c)
	// Room again: new data is accepted.
	require.True(t, waitFor(30*time.Second, func() bool {
		return metric(t, c, "otelcol_otlp_retry_wal_records", `signal="traces"`) == 0
	}), "the log did not empty")
	conn := grpcConn(t, c.GRPCEndpoint())
	require.NoError(t, exportGRPC(conn, genBatch("wal-full-after", 5, 2).td))
	requireAlive(t, c)
}
