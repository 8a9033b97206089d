package tests

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// getToken fetches url with an Authorization: Bearer token (none when
// empty) and returns the status code.
func getToken(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, http.NoBody)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, url)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestHealthAccessBearerToken runs configs/local.yaml with the build's
// bearertokenauth extension named by the health extension's access::auth:
// /status, /traces and /metrics need the token, the probes never do.
func TestHealthAccessBearerToken(t *testing.T) {
	const token = "health-e2e-token"
	c := harness.Start(t, harness.Config("local.yaml"), harness.Options{Set: []string{
		"extensions::bearertokenauth/health::token=" + token,
		"service::extensions=[health,bearertokenauth/health]",
		"extensions::health::access::auth::authenticator=bearertokenauth/health",
		"extensions::health::access::protected=[status,traces,metrics]",
	}})
	c.WaitReady(30 * time.Second)
	sendTrace(t, c.GRPCEndpoint(), "health-access")
	trace := "/traces/" + oneSpan("health-access").ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID().String()
	require.Eventually(t, func() bool { return getToken(t, c.HealthURL(trace), token) == http.StatusOK },
		20*time.Second, 100*time.Millisecond, "trace never found with the token")

	for _, path := range []string{"/health", "/ready"} {
		assert.Equal(t, http.StatusOK, getToken(t, c.HealthURL(path), ""), path)
	}
	for _, path := range []string{"/status", trace, "/metrics"} {
		assert.Equal(t, http.StatusUnauthorized, getToken(t, c.HealthURL(path), ""), path+" without a token")
		assert.Equal(t, http.StatusUnauthorized, getToken(t, c.HealthURL(path), "wrong"), path+" with a wrong token")
		assert.Equal(t, http.StatusOK, getToken(t, c.HealthURL(path), token), path+" with the token")
	}
}

// TestHealthAccessDisabled: access::disabled answers 404 for /status and
// /traces, and the probes and /metrics keep working.
func TestHealthAccessDisabled(t *testing.T) {
	c := harness.Start(t, harness.Config("local.yaml"), harness.Options{Set: []string{
		"extensions::health::access::disabled=[status,traces]",
	}})
	c.WaitReady(30 * time.Second)
	for path, want := range map[string]int{
		"/status": http.StatusNotFound, "/traces/0102030405060708090a0b0c0d0e0f10": http.StatusNotFound,
		"/health": http.StatusOK, "/metrics": http.StatusOK,
	} {
		assert.Equal(t, want, getToken(t, c.HealthURL(path), ""), path)
	}
}
