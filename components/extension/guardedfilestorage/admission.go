package guardedfilestorage

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The guard is also a receiver middleware (configgrpc's and confighttp's
// `middlewares: [{id: guarded_file_storage/...}]`): a request that arrives
// while the storage volume is below free_space_reserve_mib is refused
// before it reaches any queue, with an answer OTLP clients retry.

var (
	_ extensionmiddleware.GRPCServer = (*guard)(nil)
	_ extensionmiddleware.HTTPServer = (*guard)(nil)
)

// GetGRPCServerOptions refuses unary calls (OTLP Export) while the volume is
// below the reserve: Unavailable with RetryInfo.
func (g *guard) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(g.unaryAdmission)}, nil
}

func (g *guard) unaryAdmission(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if err := g.admit(); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

// admit is nil when there is room, else the refusal (a gRPC status).
func (g *guard) admit() error {
	if !g.reserve.enabled() {
		return nil
	}
	ok, free := g.reserve.room(g.reserve.bytes)
	if ok {
		return nil
	}
	g.reserve.refused.Add(1)
	return g.reserve.errNoRoom(free)
}

// GetHTTPHandler refuses requests while the volume is below the reserve:
// 503 with Retry-After, the body an OTLP Status in the request's encoding.
// The request body is not read.
func (g *guard) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			err := g.admit()
			if err == nil {
				next.ServeHTTP(w, r)
				return
			}
			writeRefusal(w, r, status.Convert(err).Proto())
		}), nil
	}, nil
}

func writeRefusal(w http.ResponseWriter, r *http.Request, st *rpcstatus.Status) {
	var (
		body []byte
		ct   string
	)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		body, _ = protojson.Marshal(st)
		ct = "application/json"
	} else {
		body, _ = proto.Marshal(st)
		ct = "application/x-protobuf"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(body)
}
