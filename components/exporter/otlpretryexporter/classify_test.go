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
	assert.Equal(t, reasonAuth, classify(status.Error(codes.PermissionDenied, "")).reason)
	assert.Equal(t, reasonAuth, classify(status.Error(codes.Unauthenticated, "")).reason)
	assert.Equal(t, reasonRejected, classify(status.Error(codes.InvalidArgument, "")).reason)
	// What grpc-go answers when protobuf-go cannot decode the request
	// (invalid UTF-8 in a string field).
	assert.Equal(t, reasonRejected, classify(status.Error(codes.Internal, "grpc: error unmarshalling request: string field contains invalid UTF-8")).reason)
	assert.Equal(t, reasonPermanent, classify(status.Error(codes.ResourceExhausted, "")).reason)
	assert.Equal(t, reasonThrottled, classify(throttled(time.Second)).reason)
	assert.Equal(t, reasonRetryable, classify(&httpStatusError{code: 503}).reason)
	assert.Equal(t, reasonAuth, classify(&httpStatusError{code: 403}).reason)
	assert.Equal(t, reasonAuth, classify(&httpStatusError{code: 401}).reason)
	assert.Equal(t, reasonRejected, classify(&httpStatusError{code: 400}).reason)
	assert.Equal(t, reasonTooLarge, classify(&httpStatusError{code: 413}).reason)
	assert.Equal(t, reasonTooLarge, classify(status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5000 vs. 4096)")).reason)
	assert.Equal(t, reasonTooLarge, classify(status.Error(codes.ResourceExhausted, "grpc: received message after decompression larger than max 4194304")).reason)
	assert.Equal(t, reasonPermanent, classify(&httpStatusError{code: 500}).reason)
	assert.Equal(t, reasonPermanent, classify(&httpStatusError{code: 404}).reason)
}
