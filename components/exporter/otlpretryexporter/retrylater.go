package otlpretryexporter

import (
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Retry hints of the write-ahead log's refusals: a full log frees as the
// backend takes batches; a disk that is full or failing takes an operator
// or a cleanup, so clients are asked to wait longer.
const (
	retryAfterFull  = time.Second
	retryAfterError = 5 * time.Second
)

// retryLaterError is a refusal the receivers turn into gRPC Unavailable
// with RetryInfo, and HTTP 503 with Retry-After (otlpreceiver reads the
// status through GRPCStatus). It still wraps the cause for errors.Is and
// is not permanent.
type retryLaterError struct {
	err   error
	after time.Duration
}

// retryLater marks err as a refusal to retry after the given delay.
func retryLater(err error, after time.Duration) error {
	return &retryLaterError{err: err, after: after}
}

func (e *retryLaterError) Error() string { return e.err.Error() }

func (e *retryLaterError) Unwrap() error { return e.err }

// GRPCStatus is what status.FromError returns for this error.
func (e *retryLaterError) GRPCStatus() *status.Status {
	st := status.New(codes.Unavailable, e.err.Error())
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(e.after)}); err == nil {
		return withInfo
	}
	return st
}
