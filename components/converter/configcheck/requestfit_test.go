package configcheck

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// pipeline is a collector config: an otlp receiver with the given
// protocols, an otlp_retry exporter with the given persistent_queue, one
// traces pipeline between them.
func pipeline(protocols, queue map[string]any) *confmap.Conf {
	exp := map[string]any{"endpoint": "backend:4317"}
	if queue != nil {
		exp["persistent_queue"] = queue
	}
	return confmap.NewFromStringMap(map[string]any{
		"receivers": map[string]any{"otlp": map[string]any{"protocols": protocols}},
		"exporters": map[string]any{"otlp_retry": exp, "otlp_retry/nolog": map[string]any{"endpoint": "b:4317"}},
		"service": map[string]any{"pipelines": map[string]any{
			"traces": map[string]any{"receivers": []any{"otlp"}, "exporters": []any{"otlp_retry", "otlp_retry/nolog"}},
		}},
	})
}

func convert(conf *confmap.Conf) error {
	return NewFactory().Create(confmap.ConverterSettings{}).Convert(context.Background(), conf)
}

func TestReceiverLargerThanTheLogIsRefused(t *testing.T) {
	log32 := map[string]any{"directory": "/var/lib/otlpcol/wal", "max_bytes": 33554432}
	for name, tc := range map[string]struct {
		protocols, queue map[string]any
		want             string
	}{
		"grpc 64 MiB, log 32 MiB": {
			map[string]any{"grpc": map[string]any{"max_recv_msg_size_mib": 64}}, log32,
			"exporters::otlp_retry::persistent_queue::max_bytes: the log takes requests of at most 33554408 bytes, " +
				"but receivers::otlp::protocols::grpc::max_recv_msg_size_mib (64) accepts requests of up to 67108864 bytes " +
				"in pipeline traces: a larger request would be refused as permanent, which clients drop; " +
				"raise max_bytes to at least 67108888 or lower receivers::otlp::protocols::grpc::max_recv_msg_size_mib",
		},
		"http 40 MiB, log 32 MiB": {
			map[string]any{"http": map[string]any{"max_request_body_size": 41943040}}, log32,
			"receivers::otlp::protocols::http::max_request_body_size (41943040) accepts requests of up to 41943040 bytes",
		},
		"grpc 512 MiB, log 2 GiB: over the largest record": {
			map[string]any{"grpc": map[string]any{"max_recv_msg_size_mib": 512}},
			map[string]any{"directory": "/var/lib/otlpcol/wal", "max_bytes": 2147483648},
			"the log takes requests of at most 268435456 bytes, but receivers::otlp::protocols::grpc::max_recv_msg_size_mib (512) " +
				"accepts requests of up to 536870912 bytes in pipeline traces: a larger request would be refused as permanent, " +
				"which clients drop; lower receivers::otlp::protocols::grpc::max_recv_msg_size_mib",
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := convert(pipeline(tc.protocols, tc.queue))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestReceiverThatFitsTheLogPasses(t *testing.T) {
	for name, tc := range map[string]struct{ protocols, queue map[string]any }{
		// The receiver's defaults (4 MiB gRPC, 20 MiB HTTP) fit the
		// smallest log Validate allows.
		"defaults, log 32 MiB": {
			map[string]any{"grpc": nil, "http": nil},
			map[string]any{"directory": "/var/lib/otlpcol/wal", "max_bytes": 33554432},
		},
		"grpc 64 MiB, default log (1 GiB)": {
			map[string]any{"grpc": map[string]any{"max_recv_msg_size_mib": 64}},
			map[string]any{"directory": "/var/lib/otlpcol/wal"},
		},
		"exactly the log's largest record": {
			map[string]any{"http": map[string]any{"max_request_body_size": 33554408}},
			map[string]any{"directory": "/var/lib/otlpcol/wal", "max_bytes": 33554432},
		},
		"no log": {map[string]any{"grpc": map[string]any{"max_recv_msg_size_mib": 512}}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, convert(pipeline(tc.protocols, tc.queue)))
		})
	}
}

// A receiver in another pipeline than the log is not compared with it.
func TestOtherPipelinesAreNotCompared(t *testing.T) {
	conf := pipeline(map[string]any{"grpc": nil}, map[string]any{"directory": "/wal", "max_bytes": 33554432})
	require.NoError(t, conf.Merge(confmap.NewFromStringMap(map[string]any{
		"receivers": map[string]any{"otlp/big": map[string]any{"protocols": map[string]any{
			"grpc": map[string]any{"max_recv_msg_size_mib": 64}}}},
		"service": map[string]any{"pipelines": map[string]any{
			"traces/big": map[string]any{"receivers": []any{"otlp/big"}, "exporters": []any{"otlp_retry/nolog"}},
		}},
	})))
	require.NoError(t, convert(conf))
}

// The shipped gateway (16 MiB receivers, a 2 GiB log) passes, and is
// compared: its log is read.
func TestShippedGatewayFits(t *testing.T) {
	conf, err := confmaptest.LoadConf(filepath.Join("..", "..", "..", "configs", "gateway.yaml"))
	require.NoError(t, err)
	require.NoError(t, convert(conf))
	largest, ok := logLimit(conf, "otlp_retry")
	require.True(t, ok, "the gateway's log was not read")
	assert.EqualValues(t, 256<<20, largest, "2 GiB of log, records of at most 256 MiB")
	limits := receiverLimits(conf, "otlp")
	require.Len(t, limits, 2)
	for _, l := range limits {
		assert.EqualValues(t, 16<<20, l.bytes, l.key)
	}
}
