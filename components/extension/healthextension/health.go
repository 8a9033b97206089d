package healthextension

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"
)

type health struct {
	cfg    *Config
	set    extension.Settings
	server *http.Server
	ready  atomic.Bool
	done   chan struct{}
}

func newHealth(cfg *Config, set extension.Settings) *health {
	return &health{cfg: cfg, set: set}
}

func (h *health) Start(ctx context.Context, host component.Host) error {
	ln, err := h.cfg.ToListener(ctx)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !h.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"ready":false}` + "\n"))
			return
		}
		_, _ = w.Write([]byte(`{"ready":true}` + "\n"))
	})
	h.server, err = h.cfg.ToServer(ctx, host.GetExtensions(), h.set.TelemetrySettings, mux)
	if err != nil {
		_ = ln.Close()
		return err
	}
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		if err := h.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.set.Logger.Error("health server stopped", zap.Error(err))
		}
	}()
	h.set.Logger.Info("health server listening", zap.String("endpoint", ln.Addr().(*net.TCPAddr).String()))
	return nil
}

func (h *health) Ready() error { h.ready.Store(true); return nil }

func (h *health) NotReady() error {
	h.ready.Store(false)
	time.Sleep(h.cfg.DrainDelay)
	return nil
}

func (h *health) Shutdown(ctx context.Context) error {
	if h.server == nil {
		return nil
	}
	err := h.server.Shutdown(ctx)
	<-h.done
	return err
}
