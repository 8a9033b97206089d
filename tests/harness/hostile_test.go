package harness

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
)

// TestBombPayload: a bomb is a valid export request of the size asked for,
// a few kilobytes gzipped and under a kilobyte with zstd (the sizes of the
// issue 26 probe).
func TestBombPayload(t *testing.T) {
	const size = 15 << 20
	p := BombPayload(size)
	require.InDelta(t, size, len(p), 128)
	req := ptraceotlp.NewExportRequest()
	require.NoError(t, req.UnmarshalProto(p))
	require.Equal(t, 1, req.Traces().SpanCount())

	gz := Gzip(p)
	require.Less(t, len(gz), 20<<10)
	r, err := gzip.NewReader(bytes.NewReader(gz))
	require.NoError(t, err)
	back, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, p, back)

	zs := Zstd(p)
	require.Less(t, len(zs), 1<<10)
	d, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer d.Close()
	back, err = d.DecodeAll(zs, nil)
	require.NoError(t, err)
	require.Equal(t, p, back)
}

// TestGRPCOutcome: the OTLP specification's retryable codes, and
// ResourceExhausted only with RetryInfo.
func TestGRPCOutcome(t *testing.T) {
	require.True(t, GRPCOutcome(codes.OK, false).Accepted)
	require.True(t, GRPCOutcome(codes.Unavailable, false).Retryable)
	require.False(t, GRPCOutcome(codes.ResourceExhausted, false).Retryable)
	require.True(t, GRPCOutcome(codes.ResourceExhausted, true).Retryable)
	require.False(t, GRPCOutcome(codes.InvalidArgument, false).Retryable)
	require.Equal(t, "Unavailable+RetryInfo", GRPCOutcome(codes.Unavailable, true).Answer)
}
