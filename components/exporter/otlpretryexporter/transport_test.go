package otlpretryexporter

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/consumer/consumererror"
)

func TestGRPCPartialSuccess(t *testing.T) {
	srv := startGRPCServer(t, grpcAnswer{rejected: 4})
	e := newTestExporter(t, fastConfig(srv.addr), true)
	require.NoError(t, e.pushTraces(context.Background(), testTraces(10)))
	assert.Equal(t, 1, srv.Calls(), "partial success is not resent")
	assert.EqualValues(t, 4, e.counter(t, "otelcol_otlp_retry_rejected_items"))
	assert.EqualValues(t, 6, e.counter(t, "otelcol_otlp_retry_sent_items"))
}

func TestHTTPStatusesAndRetryAfter(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name      string
		answers   []httpAnswer
		wantErr   bool
		wantCalls int
		wantSleep func(t *testing.T, sl []time.Duration)
		wantEvent []componentstatus.Status
	}{
		{name: "ok", answers: nil, wantCalls: 1},
		{name: "503 then ok", answers: []httpAnswer{{status: 503}}, wantCalls: 2},
		{name: "429 Retry-After seconds", answers: []httpAnswer{{status: 429, retryAfter: "3"}}, wantCalls: 2,
			wantSleep: func(t *testing.T, sl []time.Duration) { assert.Equal(t, []time.Duration{3 * time.Second}, sl) }},
		{name: "503 Retry-After date", answers: []httpAnswer{{status: 503, retryAfter: date}}, wantCalls: 2,
			wantSleep: func(t *testing.T, sl []time.Duration) {
				require.Len(t, sl, 1)
				assert.Greater(t, sl[0], 80*time.Second)
				assert.LessOrEqual(t, sl[0], 90*time.Second)
			}},
		{name: "502 504 then ok", answers: []httpAnswer{{status: 502}, {status: 504}}, wantCalls: 3},
		// Invalid data, refused once: the halves go through.
		{name: "400 isolated", answers: []httpAnswer{{status: 400}}, wantCalls: 3},
		// Every span refused, no quarantine configured: the one drop
		// (counted), after isolating costs 2n-1 calls for n spans.
		{name: "400 rejected", answers: []httpAnswer{{status: 400}, {status: 400}, {status: 400}, {status: 400}, {status: 400}, {status: 400}, {status: 400}},
			wantErr: true, wantCalls: 7},
		// Too large for the backend: split in two, each half sent.
		{name: "413 split", answers: []httpAnswer{{status: 413}}, wantCalls: 3},
		// Not the data's fault: kept and tried again.
		{name: "500 kept", answers: []httpAnswer{{status: 500}}, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startHTTPServer(t, tt.answers...)
			cfg := fastConfig(srv.URL)
			cfg.Protocol = ProtocolHTTP
			cfg.RetryConfig.MaxElapsedTime = 5 * time.Minute
			e := newTestExporter(t, cfg, true)
			td := testTraces(4)
			err := e.pushTraces(context.Background(), td)
			if tt.wantErr {
				require.Error(t, err)
				assert.True(t, consumererror.IsPermanent(err))
			} else {
				require.NoError(t, err)
				assert.Equal(t, spanIDs(td), srv.Received())
			}
			assert.Equal(t, tt.wantCalls, srv.Calls())
			if tt.wantSleep != nil {
				tt.wantSleep(t, e.Sleeps())
			}
			if tt.wantEvent != nil {
				assert.Equal(t, tt.wantEvent, e.host.Events())
			}
		})
	}
}

func TestHTTPPartialSuccess(t *testing.T) {
	srv := startHTTPServer(t, httpAnswer{rejected: 2})
	cfg := fastConfig(srv.URL)
	cfg.Protocol = ProtocolHTTP
	e := newTestExporter(t, cfg, true)
	require.NoError(t, e.pushTraces(context.Background(), testTraces(5)))
	assert.Equal(t, 1, srv.Calls())
	assert.EqualValues(t, 2, e.counter(t, "otelcol_otlp_retry_rejected_items"))
}

func TestHeadersSent(t *testing.T) {
	gsrv := startGRPCServer(t)
	cfg := fastConfig(gsrv.addr)
	cfg.ClientConfig.Headers.Set("api-key", "s3cret")
	e := newTestExporter(t, cfg, true)
	require.NoError(t, e.pushTraces(context.Background(), testTraces(1)))
	assert.Equal(t, []string{"s3cret"}, gsrv.headers[0].Get("api-key"))

	hsrv := startHTTPServer(t)
	hcfg := fastConfig(hsrv.URL)
	hcfg.Protocol = ProtocolHTTP
	hcfg.ClientConfig.Headers.Set("api-key", "s3cret")
	he := newTestExporter(t, hcfg, true)
	require.NoError(t, he.pushTraces(context.Background(), testTraces(1)))
	assert.Equal(t, "s3cret", hsrv.headers[0].Get("Api-Key"))
}

func TestCompressionEachKindRoundTrips(t *testing.T) {
	for _, proto := range []string{ProtocolGRPC, ProtocolHTTP} {
		for _, comp := range []string{"gzip", "zstd", "none"} {
			t.Run(proto+"/"+comp, func(t *testing.T) {
				var endpoint string
				var received func() map[string]int
				var encodings func() []string
				if proto == ProtocolGRPC {
					s := startGRPCServer(t)
					endpoint, received = s.addr, s.Received
					encodings = func() []string { s.mu.Lock(); defer s.mu.Unlock(); return s.encoding }
				} else {
					s := startHTTPServer(t)
					endpoint, received = s.URL, s.Received
					encodings = func() []string { s.mu.Lock(); defer s.mu.Unlock(); return s.encoding }
				}
				cfg := fastConfig(endpoint)
				cfg.Protocol = proto
				cfg.ClientConfig.Compression = compressionType(comp)
				e := newTestExporter(t, cfg, true)
				td := testTraces(200)
				require.NoError(t, e.pushTraces(context.Background(), td))
				assert.Equal(t, spanIDs(td), received())
				want := comp
				if comp == "none" {
					want = ""
					if proto == ProtocolGRPC {
						want = "identity"
					}
				}
				enc := encodings()
				require.NotEmpty(t, enc)
				if !(proto == ProtocolGRPC && comp == "none" && enc[0] == "") {
					assert.Equal(t, want, enc[0])
				}
				in := e.counter(t, "otelcol_otlp_retry_uncompressed")
				out := e.counter(t, "otelcol_otlp_retry_compressed")
				assert.Positive(t, in)
				if comp == "none" {
					assert.Equal(t, in, out)
				} else {
					assert.Less(t, out, in/2, "compressed bytes")
				}
			})
		}
	}
}

func TestGzipLevelHonouredOverGRPC(t *testing.T) {
	sizes := map[int]int64{}
	for _, level := range []int{1, 9} {
		srv := startGRPCServer(t)
		cfg := fastConfig(srv.addr)
		cfg.CompressionLevel = level
		e := newTestExporter(t, cfg, true)
		require.NoError(t, e.pushTraces(context.Background(), testTraces(2000)))
		sizes[level] = e.counter(t, "otelcol_otlp_retry_compressed")
		srv.mu.Lock()
		wire := srv.wire
		srv.mu.Unlock()
		// What the server saw on the wire is what the exporter counted.
		assert.Equal(t, sizes[level], wire)
	}
	assert.Less(t, sizes[9], sizes[1], "level 9 must compress smaller than level 1")
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	assert.Equal(t, 5*time.Second, parseRetryAfter("5", now))
	assert.Equal(t, 30*time.Second, parseRetryAfter(now.Add(30*time.Second).Format(http.TimeFormat), now))
	assert.Equal(t, time.Duration(0), parseRetryAfter(now.Add(-time.Minute).Format(http.TimeFormat), now))
	assert.Equal(t, time.Duration(0), parseRetryAfter("soon", now))
	assert.Equal(t, time.Duration(0), parseRetryAfter("-3", now))
}

func compressionType(s string) configcompression.Type { return configcompression.Type(s) }
