package deploy

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	telemetry "istio.io/api/telemetry/v1alpha1"
	corev1 "k8s.io/api/core/v1"
)

// Istio objects are decoded strictly with Istio's own API types (istio.io/api,
// protojson rejects unknown fields), the same messages istiod validates.
func TestIstioObjects(t *testing.T) {
	gw := loadOverlay(t, "gateway")
	svc := find[*corev1.Service](t, gw.objs, "Service", "otlpcol-gateway")
	svcHost := svc.Name + "." + svc.Namespace + ".svc.cluster.local"
	seen := map[string]int{}
	for _, b := range render(t, "deploy/istio") {
		tm, meta, spec := strictMeta(t, b)
		if meta.Namespace != namespace {
			t.Errorf("%s %s in namespace %q", tm.Kind, meta.Name, meta.Namespace)
		}
		var msg proto.Message
		switch tm.APIVersion + "/" + tm.Kind {
		case "networking.istio.io/v1/Gateway":
			msg = &networking.Gateway{}
		case "networking.istio.io/v1/VirtualService":
			msg = &networking.VirtualService{}
		case "networking.istio.io/v1/DestinationRule":
			msg = &networking.DestinationRule{}
		case "security.istio.io/v1/PeerAuthentication":
			msg = &security.PeerAuthentication{}
		case "telemetry.istio.io/v1/Telemetry":
			msg = &telemetry.Telemetry{}
		default:
			t.Fatalf("unexpected %s %s", tm.APIVersion, tm.Kind)
		}
		if err := protoStrict(spec, msg); err != nil {
			t.Fatalf("%s %s: %v", tm.Kind, meta.Name, err)
		}
		seen[tm.Kind]++
		switch m := msg.(type) {
		case *networking.Gateway:
			tls := false
			for _, s := range m.Servers {
				if s.Tls != nil && s.Tls.Mode == networking.ServerTLSSettings_SIMPLE && s.Tls.CredentialName != "" && s.Port.Protocol == "HTTPS" {
					tls = true
				}
				if s.Port.Protocol == "HTTP" && (s.Tls == nil || !s.Tls.HttpsRedirect) {
					t.Error("plain HTTP server must only redirect to HTTPS")
				}
			}
			if !tls {
				t.Error("Gateway has no TLS server")
			}
		case *networking.VirtualService:
			checkVirtualService(t, m, svcHost)
		case *networking.DestinationRule:
			tp := m.TrafficPolicy
			if tp == nil || tp.Tls == nil || tp.Tls.Mode != networking.ClientTLSSettings_ISTIO_MUTUAL {
				t.Errorf("DestinationRule %s: tls must be ISTIO_MUTUAL", meta.Name)
			}
			if m.Host == svcHost && (tp.OutlierDetection == nil || tp.ConnectionPool == nil) {
				t.Errorf("DestinationRule %s needs connectionPool and outlierDetection", meta.Name)
			}
			if m.Host != svcHost && m.Host != "otlpcol-gateway-headless."+namespace+".svc.cluster.local" {
				t.Errorf("DestinationRule host %s is no gateway Service", m.Host)
			}
		case *security.PeerAuthentication:
			if m.Mtls == nil || m.Mtls.Mode != security.PeerAuthentication_MutualTLS_STRICT {
				t.Error("PeerAuthentication must be STRICT")
			}
		}
	}
	for _, k := range []string{"Gateway", "VirtualService", "DestinationRule", "PeerAuthentication", "Telemetry"} {
		if seen[k] == 0 {
			t.Errorf("no %s in deploy/istio", k)
		}
	}
}

// OTLP/HTTP's exact paths go to 4318, gRPC (by content-type) to 4317, and
// no production route injects faults.
func checkVirtualService(t *testing.T, vs *networking.VirtualService, host string) {
	t.Helper()
	var httpPaths []string
	grpc := false
	for _, r := range vs.Http {
		if r.Fault != nil || r.Mirror != nil {
			t.Errorf("route %s injects faults or mirrors", r.Name)
		}
		if len(r.Route) != 1 || r.Route[0].Destination.Host != host {
			t.Errorf("route %s must go to %s", r.Name, host)
			continue
		}
		port := r.Route[0].Destination.Port.GetNumber()
		for _, m := range r.Match {
			if ct, ok := m.Headers["content-type"]; ok {
				if ct.GetPrefix() != "application/grpc" || port != 4317 {
					t.Errorf("gRPC route %s: content-type %v to port %d", r.Name, ct, port)
				}
				grpc = true
			}
			if m.Uri != nil {
				if port != 4318 {
					t.Errorf("route %s sends %v to %d, OTLP/HTTP is 4318", r.Name, m.Uri, port)
				}
				httpPaths = append(httpPaths, m.Uri.GetExact())
			}
		}
	}
	slices.Sort(httpPaths)
	if !slices.Equal(httpPaths, []string{"/v1/logs", "/v1/metrics", "/v1/traces"}) {
		t.Errorf("OTLP/HTTP paths %v, want exactly /v1/traces /v1/metrics /v1/logs", httpPaths)
	}
	if !grpc {
		t.Error("no gRPC route to 4317")
	}
}
