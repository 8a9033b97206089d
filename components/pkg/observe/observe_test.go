package observe

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRegister(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	level, total, ok := int64(7), int64(0), false
	reg, err := Register(tel.NewTelemetrySettings().MeterProvider.Meter("test"),
		Int64{Name: "level", Description: "a gauge", Unit: "By", Read: Value(func() int64 { return level })},
		Int64{Name: "total", Description: "a counter", Unit: "{things}", Kind: Counter, Read: Value(func() int64 { return total })},
		Int64{Name: "flaky", Description: "read only when it works", Unit: "1", Read: func() (int64, bool) { return 1, ok }},
	)
	require.NoError(t, err)

	total = 3
	g, err := tel.GetMetric("level")
	require.NoError(t, err)
	assert.Equal(t, "a gauge", g.Description)
	assert.Equal(t, "By", g.Unit)
	assert.Equal(t, int64(7), g.Data.(metricdata.Gauge[int64]).DataPoints[0].Value)
	c, err := tel.GetMetric("total")
	require.NoError(t, err)
	sum := c.Data.(metricdata.Sum[int64])
	assert.True(t, sum.IsMonotonic)
	assert.Equal(t, int64(3), sum.DataPoints[0].Value)
	_, err = tel.GetMetric("flaky")
	assert.Error(t, err, "a failed reading is not observed")

	ok = true
	_, err = tel.GetMetric("flaky")
	assert.NoError(t, err)

	require.NoError(t, reg.Unregister())
	_, err = tel.GetMetric("level")
	assert.Error(t, err, "nothing observed once unregistered")
}
