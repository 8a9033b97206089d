package admissionextension

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otlpcol/otlpcol/components/extension/admissionextension/internal/metadata"
)

// TestComponentLifecycle is what mdatagen would generate: create, start,
// shut down twice; and shut down without start.
func TestComponentLifecycle(t *testing.T) {
	f := NewFactory()
	require.Equal(t, metadata.Type, f.Type())
	cfg := f.CreateDefaultConfig()

	t.Run("shutdown", func(t *testing.T) {
		e, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
		require.NoError(t, err)
		require.NoError(t, e.Shutdown(context.Background()))
	})
	t.Run("lifecycle", func(t *testing.T) {
		e, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
		require.NoError(t, err)
		require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, e.Shutdown(context.Background()))
		require.NoError(t, e.Shutdown(context.Background()))
	})
}
