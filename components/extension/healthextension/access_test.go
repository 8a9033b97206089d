package healthextension

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

const testToken = "s3cret-health-token"

// extHost offers the given extensions, as the collector's host does.
type extHost struct {
	exts map[component.ID]component.Component
}

func (h extHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// startBearer starts the real bearertokenauth extension (the one in the
// build) with testToken, stopped when the test ends.
func startBearer(t *testing.T, id component.ID) extension.Extension {
	t.Helper()
	f := bearertokenauthextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*bearertokenauthextension.Config)
	cfg.BearerToken = configopaque.String(testToken)
	set := extensiontest.NewNopSettings(f.Type())
	set.ID = id
	ext, err := f.Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext
}

// startServed starts h's real server with host and returns a GET that
// sends token (none when empty) and answers code and body.
func startServed(t *testing.T, h *health, host component.Host) func(path, token string) (int, string) {
	t.Helper()
	require.NoError(t, h.Start(context.Background(), host))
	require.NoError(t, h.Ready())
	h.RegisterTraceLookup(component.MustNewID("trace_registry"), fakeLookup{fakeTrace: {TraceID: fakeTraceHex, State: "active"}})
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	t.Cleanup(client.CloseIdleConnections)
	return func(path, token string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, "http://"+h.addr+path, http.NoBody)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

var bearerID = component.MustNewIDWithName("bearertokenauth", "health")

func withAuth(cfg *Config, protected ...string) *Config {
	cfg.Access.Auth = configoptional.Some(configauth.Config{AuthenticatorID: bearerID})
	cfg.Access.Protected = protected
	return cfg
}

// TestAccessBearerToken: with access::auth naming bearertokenauth, /status
// and /traces need the token, the probes and (by default) /metrics do not.
func TestAccessBearerToken(t *testing.T) {
	h, _ := newTestHealth(t, withAuth(testConfig()))
	h.metrics.set("http://127.0.0.1:1/metrics", "test") // nothing there: 502, but not 401
	get := startServed(t, h, extHost{exts: map[component.ID]component.Component{bearerID: startBearer(t, bearerID)}})
	trace := "/traces/" + fakeTraceHex

	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/health", "", http.StatusOK},
		{"/ready", "", http.StatusOK},
		{"/status", "", http.StatusUnauthorized},
		{"/status", "wrong", http.StatusUnauthorized},
		{"/status", testToken, http.StatusOK},
		{trace, "", http.StatusUnauthorized},
		{trace, testToken, http.StatusOK},
		{"/traces/xyz", "", http.StatusUnauthorized}, // refused before it is parsed
		{"/metrics", "", http.StatusBadGateway},      // open by default
		{"/nothing", "", http.StatusNotFound},
	} {
		code, body := get(tc.path, tc.token)
		assert.Equal(t, tc.want, code, "%s (token %q): %s", tc.path, tc.token, body)
		if code == http.StatusUnauthorized {
			assert.Contains(t, body, `"error": "unauthorized:`)
			assert.NotContains(t, body, "pipelines")
		}
	}
}

// TestAccessProtectedMetrics: access::protected can add /metrics.
func TestAccessProtectedMetrics(t *testing.T) {
	h, _ := newTestHealth(t, withAuth(testConfig(), endpointMetrics))
	h.metrics.set("http://127.0.0.1:1/metrics", "test")
	get := startServed(t, h, extHost{exts: map[component.ID]component.Component{bearerID: startBearer(t, bearerID)}})
	code, _ := get("/metrics", "")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = get("/metrics", testToken)
	assert.Equal(t, http.StatusBadGateway, code, "past the authenticator")
	code, _ = get("/status", "")
	assert.Equal(t, http.StatusOK, code, "only what access::protected lists")
}

// TestAccessDisabled: disabled endpoints answer 404, whatever the method
// and the token; the others are served.
func TestAccessDisabled(t *testing.T) {
	cfg := testConfig()
	cfg.Access.Disabled = []string{endpointStatus, endpointTraces}
	h, _ := newTestHealth(t, cfg)
	get := startServed(t, h, componenttest.NewNopHost())
	for _, path := range []string{"/status", "/traces/" + fakeTraceHex} {
		code, body := get(path, "")
		assert.Equal(t, http.StatusNotFound, code, path)
		assert.Contains(t, body, "is disabled (health extension access::disabled)")
	}
	code, _ := get("/health", "")
	assert.Equal(t, http.StatusOK, code)
}

// TestAccessStartErrors: a missing authenticator, or an extension that is
// not a server authenticator, fails the start naming access::auth, and
// leaves no port bound.
func TestAccessStartErrors(t *testing.T) {
	h, _ := newTestHealth(t, withAuth(testConfig()))
	err := h.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `health: access::auth: authenticator "bearertokenauth/health"`)
	assert.Empty(t, h.addr, "no port opened")

	h, _ = newTestHealth(t, withAuth(testConfig()))
	err = h.Start(context.Background(), extHost{exts: map[component.ID]component.Component{bearerID: nopExt{}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "health: access::auth")
	t.Log(err)
}

type nopExt struct {
	component.StartFunc
	component.ShutdownFunc
}

const fakeTraceHex = "0102030405060708090a0b0c0d0e0f10"

var fakeTrace = pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
