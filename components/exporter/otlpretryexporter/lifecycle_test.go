package otlpretryexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

// TestComponentLifecycle is what mdatagen's generated lifecycle test does:
// create, start, shut down twice; and shut down without start.
func TestComponentLifecycle(t *testing.T) {
	f := NewFactory()
	for _, sig := range []string{"traces", "metrics", "logs"} {
		t.Run(sig, func(t *testing.T) {
			create := func() component.Component {
				cfg := f.CreateDefaultConfig().(*Config)
				cfg.ClientConfig.Endpoint = "127.0.0.1:1"
				cfg.DeadLetter.Directory = t.TempDir()
				var c component.Component
				var err error
				switch sig {
				case "traces":
					c, err = f.CreateTraces(context.Background(), newTestSettings(), cfg)
				case "metrics":
					c, err = f.CreateMetrics(context.Background(), newTestSettings(), cfg)
				default:
					c, err = f.CreateLogs(context.Background(), newTestSettings(), cfg)
				}
				require.NoError(t, err)
				return c
			}
			c := create()
			require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
			require.NoError(t, c.Shutdown(context.Background()))
			require.NoError(t, c.Shutdown(context.Background()))
			require.NoError(t, create().Shutdown(context.Background()))
		})
	}
}
