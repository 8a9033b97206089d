package otlpretryexporter

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// classify sorts a failed attempt into one of the reasons of verdict.go.
//
// gRPC: Unavailable, Aborted, DeadlineExceeded, Canceled (per attempt),
// OutOfRange and DataLoss are retryable; ResourceExhausted only with
// RetryInfo (a quota without it will not recover by retrying soon), or
// too_large when it is gRPC's own "received message larger than max";
// Unauthenticated and PermissionDenied are auth; InvalidArgument and
// Internal are rejected (the data: a backend built on protobuf-go answers
// Internal when a request does not decode, e.g. a string field that is not
// UTF-8, which pdata lets through; the OTLP spec lists both as not
// retryable); every other code is permanent. HTTP: 429, 502, 503 and 504 are
// retryable; 401 and 403 auth; 400 rejected; 413 too_large; every other
// status is permanent. Transport errors (refused, reset, timeouts) are retryable.
func classify(err error) verdict {
	var me *marshalError
	if errors.As(err, &me) {
		return verdict{reason: reasonRejected, why: "request could not be built"}
	}
	var he *httpStatusError
	if errors.As(err, &he) {
		why := "HTTP " + http.StatusText(he.code)
		switch he.code {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if he.retryAfter > 0 {
				return verdict{reason: reasonThrottled, delay: he.retryAfter, why: why}
			}
			return verdict{reason: reasonRetryable, why: why}
		case http.StatusUnauthorized, http.StatusForbidden:
			return verdict{reason: reasonAuth, why: why}
		case http.StatusBadRequest:
			return verdict{reason: reasonRejected, why: why}
		case http.StatusRequestEntityTooLarge:
			return verdict{reason: reasonTooLarge, why: why}
		default:
			return verdict{reason: reasonPermanent, why: why}
		}
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
		why := "gRPC " + st.Code().String()
		delay := retryInfoDelay(st)
		switch st.Code() {
		case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded, codes.Canceled, codes.OutOfRange, codes.DataLoss:
			if delay > 0 {
				return verdict{reason: reasonThrottled, delay: delay, why: why}
			}
			return verdict{reason: reasonRetryable, why: why}
		case codes.ResourceExhausted:
			if delay > 0 {
				return verdict{reason: reasonThrottled, delay: delay, why: why}
			}
			// grpc-go's server refuses a message over its
			// MaxRecvMsgSize with this text (before or after
			// decompression); nothing else says "too large" in gRPC.
			if strings.Contains(st.Message(), "larger than max") {
				return verdict{reason: reasonTooLarge, why: why + ": message larger than the backend takes"}
			}
			return verdict{reason: reasonPermanent, why: why + " without RetryInfo"}
		case codes.Unauthenticated, codes.PermissionDenied:
			return verdict{reason: reasonAuth, why: why}
		case codes.InvalidArgument, codes.Internal:
			return verdict{reason: reasonRejected, why: why}
		default:
			return verdict{reason: reasonPermanent, why: why}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return verdict{reason: reasonRetryable, why: "attempt timed out"}
	}
	return verdict{reason: reasonRetryable, why: "transport error"}
}

func retryInfoDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			if dd := ri.GetRetryDelay().AsDuration(); dd > 0 {
				return dd
			}
		}
	}
	return 0
}
