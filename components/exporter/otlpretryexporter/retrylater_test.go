package otlpretryexporter

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/wal"
)

// The write-ahead log's refusals reach the receivers as Unavailable with
// RetryInfo (HTTP 503 with Retry-After), keep their cause and stay retryable.
func TestRetryLaterIsUnavailableWithRetryInfo(t *testing.T) {
	err := retryLater(errors.Join(errors.New("write-ahead log"), wal.ErrFull), 5*time.Second)
	st, ok := status.FromError(err)
	require.True(t, ok)
	require.Equal(t, codes.Unavailable, st.Code())
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	require.Equal(t, 5*time.Second, delay)
	require.ErrorIs(t, err, wal.ErrFull)
	require.False(t, consumererror.IsPermanent(err))
}
