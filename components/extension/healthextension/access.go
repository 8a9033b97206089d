package healthextension

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.uber.org/zap"
)

// The endpoints access settings apply to. The probes (/health, /ready) are
// never among them: a kubelet probe carries no credentials, and a probe
// that cannot be answered restarts or unroutes the pod.
const (
	endpointStatus  = "status"
	endpointTraces  = "traces"
	endpointMetrics = "metrics"
)

var (
	accessEndpoints = []string{endpointStatus, endpointTraces, endpointMetrics}
	// defaultProtected is what access::auth guards when access::protected
	// is not set: what the collector carries (service names, trace shapes,
	// errors). /metrics stays open by default, for scrapers without a token.
	defaultProtected = []string{endpointStatus, endpointTraces}
)

// AccessConfig decides who may read the endpoints that show what the
// collector carries: /status, /traces/{trace_id} and /metrics.
type AccessConfig struct {
	// Auth names a server authenticator extension (bearertokenauth, basicauth,
	// oidc, ...) that every request to a protected endpoint must pass; the
	// probes stay open. Unlike the server's own `auth`, which guards every
	// path, probes included.
	Auth configoptional.Optional[configauth.Config] `mapstructure:"auth"`
	// Protected lists the endpoints Auth guards: any of status, traces,
	// metrics. Default, with Auth set: status and traces.
	Protected []string `mapstructure:"protected"`
	// Disabled lists endpoints answered 404: any of status, traces, metrics.
	Disabled []string `mapstructure:"disabled"`
	_        struct{}
}

// validate checks the access settings; errors name the key.
func (a *AccessConfig) validate() []error {
	var errs []error
	check := func(key string, list []string) {
		for _, e := range list {
			if !slices.Contains(accessEndpoints, e) {
				errs = append(errs, fmt.Errorf("access::%s: unknown endpoint %q (want %s; /health and /ready are probes and stay open)",
					key, e, strings.Join(accessEndpoints, ", ")))
			}
		}
	}
	check("protected", a.Protected)
	check("disabled", a.Disabled)
	if len(a.Protected) > 0 && !a.Auth.HasValue() {
		errs = append(errs, errors.New("access::protected: needs access::auth::authenticator"))
	}
	if a.Auth.HasValue() && a.Auth.Get().AuthenticatorID == (component.ID{}) {
		errs = append(errs, errors.New("access::auth::authenticator: must name an authenticator extension"))
	}
	return errs
}

// protected is the effective list of endpoints Auth guards.
func (a *AccessConfig) protected() []string {
	if !a.Auth.HasValue() {
		return nil
	}
	if a.Protected == nil {
		return defaultProtected
	}
	return a.Protected
}

// access is the access settings resolved at Start.
type access struct {
	auth      extensionauth.Server // nil: nothing is protected
	protected []string
	disabled  []string
}

// resolveAccess finds access::auth's authenticator among the collector's
// extensions; a missing or wrong one fails the start, naming the key.
func resolveAccess(ctx context.Context, cfg *AccessConfig, extensions map[component.ID]component.Component) (access, error) {
	a := access{disabled: cfg.Disabled}
	if !cfg.Auth.HasValue() {
		return a, nil
	}
	srv, err := cfg.Auth.Get().GetServerAuthenticator(ctx, extensions)
	if err != nil {
		return a, fmt.Errorf("health: access::auth: authenticator %q: %w", cfg.Auth.Get().AuthenticatorID, err)
	}
	a.auth, a.protected = srv, cfg.protected()
	return a, nil
}

// accessEndpoint names the endpoint of path that access settings apply
// to, "" for the probes and unknown paths.
func accessEndpoint(path string) string {
	switch {
	case path == "/status":
		return endpointStatus
	case path == "/metrics":
		return endpointMetrics
	case strings.HasPrefix(path, tracesPrefix):
		return endpointTraces
	}
	return ""
}

// admit answers a request to a disabled endpoint (404) or to a protected
// one whose credentials the authenticator refuses (401), and reports
// whether the request may be served.
func (h *health) admit(w http.ResponseWriter, r *http.Request) bool {
	e := accessEndpoint(r.URL.Path)
	if e == "" {
		return true
	}
	if slices.Contains(h.access.disabled, e) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "/" + e + " is disabled (health extension access::disabled)"})
		return false
	}
	if h.access.auth == nil || !slices.Contains(h.access.protected, e) {
		return true
	}
	if _, err := h.access.auth.Authenticate(r.Context(), r.Header); err != nil {
		// Per request: debug only, as the receivers' authenticators do.
		h.set.Logger.Debug("health: request refused by access::auth", zap.String("path", r.URL.Path), zap.Error(err))
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "unauthorized: " + err.Error()})
		return false
	}
	return true
}
