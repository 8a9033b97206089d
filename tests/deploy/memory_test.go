package deploy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	sigsyaml "sigs.k8s.io/yaml"
)

// shippedConfig is the part of a collector config the memory rule reads.
type shippedConfig struct {
	Extensions struct {
		Admission *struct {
			MaxInFlightBytes       int64  `json:"max_in_flight_bytes"`
			StreamReservationBytes int64  `json:"stream_reservation_bytes"`
			StreamReadTimeout      string `json:"stream_read_timeout"`
		} `json:"admission"`
	} `json:"extensions"`
	Receivers struct {
		OTLP struct {
			Protocols struct {
				GRPC struct {
					MaxRecvMsgSizeMiB    int64            `json:"max_recv_msg_size_mib"`
					MaxConcurrentStreams int64            `json:"max_concurrent_streams"`
					Middlewares          []map[string]any `json:"middlewares"`
				} `json:"grpc"`
				HTTP struct {
					MaxRequestBodySize int64            `json:"max_request_body_size"`
					Middlewares        []map[string]any `json:"middlewares"`
					ReadHeaderTimeout  string           `json:"read_header_timeout"`
					ReadTimeout        string           `json:"read_timeout"`
					WriteTimeout       string           `json:"write_timeout"`
				} `json:"http"`
			} `json:"protocols"`
		} `json:"otlp"`
	} `json:"receivers"`
	Processors struct {
		MemoryLimiter struct {
			LimitPercentage      int64 `json:"limit_percentage"`
			SpikeLimitPercentage int64 `json:"spike_limit_percentage"`
			LimitMiB             int64 `json:"limit_mib"`
		} `json:"memory_limiter"`
	} `json:"processors"`
	Service struct {
		Extensions []string `json:"extensions"`
	} `json:"service"`
}

func readShipped(t *testing.T, name string) shippedConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), "configs", name))
	require.NoError(t, err)
	var c shippedConfig
	require.NoError(t, sigsyaml.Unmarshal(b, &c))
	return c
}

// TestMemorySizing: for the gateway and the agent, the memory settings
// follow the one rule from their container's limits.memory (the arithmetic
// is in deploy/README.md, "Memory sizing"): GOMEMLIMIT 80% of the limit,
// and memory_limiter's limit plus the admission budget's worst case under
// GOMEMLIMIT. The host agent has no container limit: its absolute
// memory_limiter limit plus the budget's worst case is what it may use.
func TestMemorySizing(t *testing.T) {
	for _, tc := range []struct{ component, config string }{{"gateway", "gateway.yaml"}, {"agent", "agent.yaml"}} {
		t.Run(tc.component, func(t *testing.T) {
			mem, err := WorkloadMemory(root(), tc.component)
			require.NoError(t, err)
			c := readShipped(t, tc.config)
			require.Equal(t, GoMemLimitFor(mem.Limit), mem.GoMemLimitBytes, "GOMEMLIMIT is 80%% of limits.memory")
			adm := c.Extensions.Admission
			require.NotNil(t, adm, "no admission extension")
			ml := c.Processors.MemoryLimiter
			require.Zero(t, ml.LimitMiB, "memory_limiter follows the container limit in percent")
			limiter := mem.Limit * ml.LimitPercentage / 100
			inFlight := HeapPerAdmittedByte * adm.MaxInFlightBytes
			t.Logf("limit %d MiB: GOMEMLIMIT %d MiB >= memory_limiter %d MiB + %d x admission %d MiB = %d MiB",
				mem.Limit>>20, mem.GoMemLimitBytes>>20, limiter>>20, HeapPerAdmittedByte, adm.MaxInFlightBytes>>20, (limiter+inFlight)>>20)
			require.LessOrEqual(t, limiter+inFlight, mem.GoMemLimitBytes,
				"memory_limiter's limit plus the admission budget's worst case must fit under GOMEMLIMIT")
			require.Positive(t, ml.SpikeLimitPercentage)
			require.Less(t, ml.SpikeLimitPercentage, ml.LimitPercentage)
		})
	}
	t.Run("host agent", func(t *testing.T) {
		c := readShipped(t, "agent-host.yaml")
		require.NotNil(t, c.Extensions.Admission)
		total := c.Processors.MemoryLimiter.LimitMiB<<20 + HeapPerAdmittedByte*c.Extensions.Admission.MaxInFlightBytes
		t.Logf("host agent heap at most %d MiB", total>>20)
		require.LessOrEqual(t, total, int64(1<<30), "the host agent's worst case grew past 1 GiB: say so in deploy/README.md")
	})
}

// TestReceiversBounded: every shipped config's OTLP receivers go through
// the admission extension, whose stream reservation covers the largest
// gRPC message; gRPC streams per connection are bounded; slow HTTP
// clients are cut off by timeouts.
func TestReceiversBounded(t *testing.T) {
	for _, name := range []string{"gateway.yaml", "agent.yaml", "agent-host.yaml"} {
		t.Run(name, func(t *testing.T) {
			c := readShipped(t, name)
			adm := c.Extensions.Admission
			require.NotNil(t, adm, "no admission extension")
			require.Contains(t, c.Service.Extensions, "admission")
			g, h := c.Receivers.OTLP.Protocols.GRPC, c.Receivers.OTLP.Protocols.HTTP
			require.Equal(t, []map[string]any{{"id": "admission"}}, g.Middlewares)
			require.Equal(t, []map[string]any{{"id": "admission"}}, h.Middlewares)
			require.GreaterOrEqual(t, adm.StreamReservationBytes, g.MaxRecvMsgSizeMiB<<20, "a gRPC stream must reserve its largest message")
			require.LessOrEqual(t, h.MaxRequestBodySize, adm.MaxInFlightBytes)
			require.Positive(t, g.MaxConcurrentStreams, "max_concurrent_streams")
			require.NotEmpty(t, adm.StreamReadTimeout)
			for key, v := range map[string]string{"read_header_timeout": h.ReadHeaderTimeout, "read_timeout": h.ReadTimeout, "write_timeout": h.WriteTimeout} {
				require.NotEmpty(t, v, "receivers::otlp::protocols::http::%s", key)
			}
		})
	}
}
