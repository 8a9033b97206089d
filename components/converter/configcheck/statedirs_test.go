package configcheck

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// stateConfig is a collector config with the given extensions (all run by
// the service) and otlp_retry exporters (all in one pipeline, plus
// otlp_retry/unused, configured but in no pipeline).
func stateConfig(exts map[string]any, exporters map[string]any) *confmap.Conf {
	var extIDs, expIDs []any
	for id := range exts {
		extIDs = append(extIDs, id)
	}
	all := map[string]any{"otlp_retry/unused": map[string]any{"endpoint": "b:4317", "dead_letter": map[string]any{"directory": "/s/a-dl"}}}
	for id, cfg := range exporters {
		expIDs = append(expIDs, id)
		all[id] = cfg
	}
	return confmap.NewFromStringMap(map[string]any{
		"extensions": exts,
		"receivers":  map[string]any{"otlp": map[string]any{"protocols": map[string]any{"grpc": nil}}},
		"exporters":  all,
		"service": map[string]any{
			"extensions": extIDs,
			"pipelines":  map[string]any{"traces": map[string]any{"receivers": []any{"otlp"}, "exporters": expIDs}},
		},
	})
}

func retry(dirs map[string]any) map[string]any {
	cfg := map[string]any{"endpoint": "b:4317"}
	for k, v := range dirs {
		cfg[k] = map[string]any{"directory": v}
	}
	return cfg
}

func TestStateDirectoriesAcrossComponentsAreRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		conf *confmap.Conf
		want string
	}{
		"a dead letter another exporter's default quarantine": {
			stateConfig(nil, map[string]any{
				"otlp_retry/a": retry(map[string]any{"dead_letter": "/s/a-dl"}),
				"otlp_retry/b": retry(map[string]any{"dead_letter": "/s/a-dl-quarantine/"}),
			}),
			`exporters::otlp_retry/b::dead_letter::directory: "/s/a-dl-quarantine/" is the same directory as ` +
				`exporters::otlp_retry/a::quarantine::directory (default, next to dead_letter::directory) ("/s/a-dl-quarantine"): ` +
				`each store needs its own directory`,
		},
		"two exporters on one log": {
			stateConfig(nil, map[string]any{
				"otlp_retry/a": retry(map[string]any{"persistent_queue": "/s/wal"}),
				"otlp_retry/b": retry(map[string]any{"persistent_queue": "/s/./wal"}),
			}),
			`exporters::otlp_retry/b::persistent_queue::directory: "/s/./wal" is the same directory as ` +
				`exporters::otlp_retry/a::persistent_queue::directory ("/s/wal")`,
		},
		"upstream file_storage inside a dead letter": {
			stateConfig(map[string]any{"file_storage": map[string]any{"directory": "/s/dl/queue"}},
				map[string]any{"otlp_retry": retry(map[string]any{"dead_letter": "/s/dl"})}),
			`exporters::otlp_retry::dead_letter::directory: "/s/dl" contains extensions::file_storage::directory ("/s/dl/queue"): ` +
				`state directories must not be nested`,
		},
		"upstream file_storage's default directory": {
			stateConfig(map[string]any{"file_storage/q": nil},
				map[string]any{"otlp_retry": retry(map[string]any{"persistent_queue": "/var/lib/otelcol/file_storage/wal"})}),
			`exporters::otlp_retry::persistent_queue::directory: "/var/lib/otelcol/file_storage/wal" is inside ` +
				`extensions::file_storage/q::directory ("/var/lib/otelcol/file_storage")`,
		},
		"two guarded_file_storage on one directory": {
			stateConfig(map[string]any{
				"guarded_file_storage/a": map[string]any{"directory": "/s/q"},
				"guarded_file_storage/b": map[string]any{"directory": "/s/q/"},
			}, nil),
			`extensions::guarded_file_storage/b::directory: "/s/q/" is the same directory as extensions::guarded_file_storage/a::directory ("/s/q")`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := convert(tc.conf)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestStateDirectoriesApartPass(t *testing.T) {
	// Siblings sharing a prefix; otlp_retry/unused names /s/a-dl too, but
	// runs in no pipeline.
	require.NoError(t, convert(stateConfig(
		map[string]any{"guarded_file_storage/q": map[string]any{"directory": "/s/queue"}, "file_storage": map[string]any{"directory": "/s/fs"}},
		map[string]any{
			"otlp_retry/a": retry(map[string]any{"dead_letter": "/s/a-dl", "persistent_queue": "/s/a-wal"}),
			"otlp_retry/b": retry(map[string]any{"dead_letter": "/s/b-dl", "persistent_queue": "/s/wal2"}),
		})))
}

// The shipped host agent (guarded_file_storage /var/lib/otlpcol/queue and
// an otlp_retry dead letter /var/lib/otlpcol/deadletter) passes, and both
// are read: the dead letter moved into the queue's directory is refused.
func TestShippedAgentHostDirectoriesApart(t *testing.T) {
	conf, err := confmaptest.LoadConf(filepath.Join("..", "..", "..", "configs", "agent-host.yaml"))
	require.NoError(t, err)
	// What ${env:OTLP_INSECURE:-false} resolves to (the file is loaded
	// unresolved here; an unreadable exporter would be skipped).
	require.NoError(t, conf.Merge(confmap.NewFromStringMap(map[string]any{
		"exporters": map[string]any{"otlp_retry": map[string]any{"tls": map[string]any{"insecure": false}}},
	})))
	require.NoError(t, convert(conf))
	require.NoError(t, conf.Merge(confmap.NewFromStringMap(map[string]any{
		"exporters": map[string]any{"otlp_retry": map[string]any{"dead_letter": map[string]any{"directory": "/var/lib/otlpcol/queue/dl"}}},
	})))
	err = convert(conf)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `exporters::otlp_retry::dead_letter::directory: "/var/lib/otlpcol/queue/dl" is inside `+
		`extensions::guarded_file_storage/queue::directory ("/var/lib/otlpcol/queue")`)
}
