package otlpretryexporter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestClassify(t *testing.T) {
	assert.Equal(t, reasonRetryable, classify(errors.New("connection refused")).reason)
	assert.Equal(t, reasonRetryable, classify(context.DeadlineExceeded).reason)
	assert.Equal(t, reasonPermanent, classify(status.Error(codes.NotFound, "")).reason)
	assert.True(t, classify(status.Error(codes.PermissionDenied, "")).auth)
	assert.Equal(t, reasonThrottled, classify(throttled(time.Second)).reason)
	assert.Equal(t, reasonRetryable, classify(&httpStatusError{code: 503}).reason)
	assert.True(t, classify(&httpStatusError{code: 403}).auth)
	assert.Equal(t, reasonPermanent, classify(&httpStatusError{code: 404}).reason)
}
