# otlpcol container image. The build stage runs the same `make build` as a
# developer machine; the final stage is distroless (CA certificates, no shell,
# no curl: Kubernetes probes call the health extension on :8080 directly,
# so there is deliberately no HEALTHCHECK here).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/otlpcol /otlpcol
COPY configs/ /etc/otlpcol/
# 65532 is distroless's "nonroot" user; numeric so runAsNonRoot can verify it.
USER 65532:65532
# 4317 OTLP gRPC, 4318 OTLP HTTP, 8080 health, readiness, status and metrics.
EXPOSE 4317 4318 8080
ENTRYPOINT ["/otlpcol"]
CMD ["--config", "/etc/otlpcol/gateway.yaml"]
