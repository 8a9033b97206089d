package guardedfilestorage

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// startReserveGuard starts a guard on a temporary directory whose volume
// reports *free bytes free (the test moves it), with a 32 MiB reserve.
func startReserveGuard(t *testing.T, free *uint64) *guard {
	t.Helper()
	f := NewFactory()
	cfg := testConfig(t.TempDir())
	require.EqualValues(t, 32, cfg.FreeSpaceReserveMiB, "the default reserve")
	e, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	g := e.(*guard)
	g.reserve.statfs = func(string) (uint64, error) { return *free, nil }
	require.NoError(t, g.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, g.Shutdown(context.Background())) })
	return g
}

func TestReserveConfig(t *testing.T) {
	for name, want := range map[string]string{
		"negative_reserve":         "free_space_reserve_mib must not be negative",
		"reserve_below_compaction": "free_space_reserve_mib (8) must be at least twice compaction::rebound_trigger_threshold_mib (10)",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.ErrorContains(t, err, want)
		})
	}
}

func TestFreeBytesReadsTheVolume(t *testing.T) {
	free, err := freeBytes(t.TempDir())
	require.NoError(t, err)
	assert.Positive(t, free)
	_, err = freeBytes("/does/not/exist")
	assert.Error(t, err)
}

func TestGRPCAdmission(t *testing.T) {
	free := uint64(64 << 20)
	g := startReserveGuard(t, &free)
	opts, err := g.GetGRPCServerOptions(context.Background())
	require.NoError(t, err)
	require.Len(t, opts, 1)

	called := 0
	next := func(context.Context, any) (any, error) { called++; return "ok", nil }
	info := &grpc.UnaryServerInfo{FullMethod: "/opentelemetry.proto.collector.trace.v1.TraceService/Export"}
	resp, err := g.unaryAdmission(context.Background(), nil, info, next)
	require.NoError(t, err)
	assert.Equal(t, "ok", resp)

	free = 31 << 20
	_, err = g.unaryAdmission(context.Background(), nil, info, next)
	require.Error(t, err)
	assert.Equal(t, 1, called, "a refused request reached the pipeline")
	st := status.Convert(err)
	assert.Equal(t, codes.Unavailable, st.Code())
	assert.Contains(t, st.Message(), "free_space_reserve_mib")
	require.Len(t, st.Details(), 1)
	ri, ok := st.Details()[0].(*errdetails.RetryInfo)
	require.True(t, ok, "%T", st.Details()[0])
	assert.Equal(t, retryAfter, ri.GetRetryDelay().AsDuration())
	assert.EqualValues(t, 1, g.reserve.refused.Load())

	free = 40 << 20 // room again
	_, err = g.unaryAdmission(context.Background(), nil, info, next)
	require.NoError(t, err)
}

func TestHTTPAdmission(t *testing.T) {
	free := uint64(1 << 20)
	g := startReserveGuard(t, &free)
	wrap, err := g.GetHTTPHandler(context.Background())
	require.NoError(t, err)
	reached := false
	h, err := wrap(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached = true
		w.WriteHeader(http.StatusOK)
	}))
	require.NoError(t, err)

	for _, ct := range []string{"application/x-protobuf", "application/json"} {
		req := httptest.NewRequest(http.MethodPost, "/v1/traces", strings.NewReader("x"))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.False(t, reached)
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
		assert.Equal(t, "5", rec.Header().Get("Retry-After"))
		assert.Equal(t, ct, rec.Header().Get("Content-Type"))
		var st rpcstatus.Status
		if ct == "application/json" {
			require.NoError(t, protojson.Unmarshal(rec.Body.Bytes(), &st))
		} else {
			require.NoError(t, proto.Unmarshal(rec.Body.Bytes(), &st))
		}
		assert.Equal(t, int32(codes.Unavailable), st.GetCode())
	}

	free = 1 << 30
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/traces", strings.NewReader("x")))
	assert.True(t, reached)
	assert.Equal(t, http.StatusOK, rec.Code)
}

// TestBackstop: below half the reserve, once the pipelines are ready, a
// batch that only adds data is refused; writes that go with a read or a
// delete (recording a dispatch, removing a delivered item) are not.
func TestBackstop(t *testing.T) {
	free := uint64(1 << 20)
	g := startReserveGuard(t, &free)
	ctx := context.Background()
	c, err := g.GetClient(ctx, component.KindExporter, queueID, "traces")
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(ctx) })

	// Before Ready: upstream's queue puts back the items it was
	// dispatching; nothing is refused.
	require.NoError(t, c.Batch(ctx, storage.SetOperation("qmv0", []byte("m")), storage.SetOperation("1", []byte("item"))))
	require.NoError(t, c.Set(ctx, "2", []byte("item")))

	require.NoError(t, g.Ready())
	err = c.Batch(ctx, storage.SetOperation("qmv0", []byte("m")), storage.SetOperation("3", []byte("item")))
	require.ErrorIs(t, err, errDiskReserve)
	require.ErrorIs(t, c.Set(ctx, "3", []byte("item")), errDiskReserve)
	assert.EqualValues(t, 2, g.reserve.blocked.Load())
	// Wrapped as upstream's queue and exporter return it, the receiver
	// still finds Unavailable with RetryInfo.
	st := status.Convert(fmt.Errorf("exporting failed: %w", err))
	assert.Equal(t, codes.Unavailable, st.Code())
	require.Len(t, st.Details(), 1)
	assert.IsType(t, &errdetails.RetryInfo{}, st.Details()[0])

	get := storage.GetOperation("1")
	require.NoError(t, c.Batch(ctx, storage.SetOperation("qmv0", []byte("m2")), get), "recording a dispatch")
	assert.Equal(t, []byte("item"), get.Value)
	require.NoError(t, c.Batch(ctx, storage.SetOperation("qmv0", []byte("m3")), storage.DeleteOperation("1")), "deleting a delivered item")
	require.NoError(t, c.Delete(ctx, "2"))

	free = 17 << 20 // above half the reserve: the receivers refuse, the backstop does not
	require.NoError(t, c.Set(ctx, "3", []byte("item")))
}

func TestReserveOff(t *testing.T) {
	f := NewFactory()
	cfg := testConfig(t.TempDir())
	cfg.FreeSpaceReserveMiB = 0
	e, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	g := e.(*guard)
	g.reserve.statfs = func(string) (uint64, error) { return 0, nil }
	require.NoError(t, g.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, g.Shutdown(context.Background())) }()
	require.NoError(t, g.admit())
	c, err := g.GetClient(context.Background(), component.KindExporter, queueID, "traces")
	require.NoError(t, err)
	_, wrapped := c.(*backstopClient)
	assert.False(t, wrapped)
	require.NoError(t, c.Close(context.Background()))
}
