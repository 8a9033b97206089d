package guardedfilestorage

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// queueID is the component whose database the tests fill and damage, and
// the file name file_storage gives it.
var queueID = component.MustNewIDWithName("otlp_grpc", "gateway")

const queueFile = "exporter_otlp_grpc_gateway_traces"

func testConfig(dir string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Directory = dir
	cfg.Compaction.Directory = dir
	return cfg
}

// fillStore writes n items of about 1 KiB through upstream file_storage, as
// a sending queue would, and returns the file's path.
func fillStore(t *testing.T, dir string, n int) string {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory, cfg.Compaction.Directory = dir, dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	c, err := ext.(storage.Extension).GetClient(context.Background(), component.KindExporter, queueID, "traces")
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, c.Set(context.Background(), fmt.Sprint(i), bytes.Repeat([]byte{byte(i)}, 1024)))
	}
	require.NoError(t, c.Close(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
	return filepath.Join(dir, queueFile)
}

// overwrite writes noise, the same for the same seed, over [from, to) of
// the file.
func overwrite(t *testing.T, path string, from, to int64, seed uint64) {
	t.Helper()
	noise := make([]byte, to-from)
	r := rand.New(rand.NewPCG(seed, 2))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(noise, from)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// startGuard creates and starts guarded_file_storage on cfg, with its
// telemetry readable through tel.
func startGuard(t *testing.T, cfg *Config, tel *componenttest.Telemetry) extension.Extension {
	t.Helper()
	set := extensiontest.NewNopSettings(NewFactory().Type())
	set.TelemetrySettings = tel.NewTelemetrySettings()
	ext, err := NewFactory().Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext
}

// gauge reads an int64 gauge or sum of the guard's telemetry.
func gauge(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err)
	switch d := m.Data.(type) {
	case metricdata.Gauge[int64]:
		return d.DataPoints[0].Value
	case metricdata.Sum[int64]:
		return d.DataPoints[0].Value
	}
	t.Fatalf("%s: unexpected data %T", name, m.Data)
	return 0
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Size()
}
