# otlpcol container image, built the way opentelemetry-collector-releases
# builds its images: from the prebuilt static binary, on an empty base. Nothing
# is pulled and nothing runs during the build: `make image` stages the build
# context (dist/image/) from the build machine and builds this file once per
# architecture with `podman build --platform linux/<arch>`:
#   rootfs/   /etc/passwd and /etc/group (packaging/image/), the CA bundle
#             (/etc/ssl/certs/ca-certificates.crt, Debian's ca-certificates),
#             the zone database (/usr/share/zoneinfo, Debian's tzdata, where
#             Go looks for TZ and LoadLocation), configs/ in /etc/otlpcol/,
#             LICENSE
#   state/    an empty directory: /var/lib/otlpcol, owned by the runtime user
#             so that a fresh volume mounted there is writable by it
#   <arch>/   /otlpcol (static: CGO off, -trimpath) and its CycloneDX SBOM
#             in /usr/share/doc/otlpcol/
# `docker build -f Dockerfile dist/image` builds the same image from the same
# context. There is no shell, so no RUN and no HEALTHCHECK: Kubernetes probes
# call the health extension on :8080 directly.
FROM scratch
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="otlpcol" \
      org.opencontainers.image.description="OpenTelemetry Collector distribution for agents and gateways" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/otlpcol/otlpcol" \
      org.opencontainers.image.licenses="Apache-2.0" \
      dev.otlpcol.sbom="/usr/share/doc/otlpcol/sbom.cdx.json"
# Layers from the least to the most often changed: both architectures share
# the first two.
COPY rootfs/ /
COPY --chown=65532:65532 state/ /var/lib/otlpcol/
COPY ${TARGETARCH}/ /
# 65532 (otlpcol in /etc/passwd), numeric so that runAsNonRoot can verify it;
# the Kubernetes manifests set the same runAsUser and runAsGroup.
USER 65532:65532
# 4317 OTLP gRPC, 4318 OTLP HTTP, 8080 health, readiness, status and metrics.
EXPOSE 4317 4318 8080
ENTRYPOINT ["/otlpcol"]
CMD ["--config", "/etc/otlpcol/gateway.yaml"]
