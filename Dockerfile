# keyaudit container image. Untested here (no registry access on the
# machines keyaudit is developed on); README "Container image" lists the
# same steps to run by hand.
#
#   docker build -t keyaudit .
#   docker build -t keyaudit:softhsm --build-arg WITH_SOFTHSM=true .
#   docker run --rm -v "$PWD:/work" -w /work keyaudit scan example.com:443
ARG GO_VERSION=1.26.8
ARG DEBIAN=bookworm

FROM golang:${GO_VERSION}-${DEBIAN} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# cgo: the PKCS#11 inventory loads vendor modules with dlopen.
RUN CGO_ENABLED=1 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/keyaudit ./cmd/keyaudit

FROM debian:${DEBIAN}-slim
# SoftHSM2 and OpenSC (pkcs11-tool) for trying the PKCS#11 inventory
# without an HSM; a production image adds its HSM vendor's module instead.
ARG WITH_SOFTHSM=false
RUN set -eux; \
    pkgs="ca-certificates"; \
    if [ "$WITH_SOFTHSM" = true ]; then pkgs="$pkgs softhsm2 opensc"; fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends $pkgs; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 65532 keyaudit; \
    useradd --system --uid 65532 --gid keyaudit --home-dir /var/lib/keyaudit --shell /usr/sbin/nologin keyaudit; \
    install -d -o keyaudit -g keyaudit -m 0750 /var/lib/keyaudit /var/lib/keyaudit/reports
COPY --from=build /out/keyaudit /usr/local/bin/keyaudit
# The SQLite store's default, $XDG_STATE_HOME/keyaudit/keyaudit.db, is
# then /var/lib/keyaudit/keyaudit.db: mount a volume there to keep it.
ENV XDG_STATE_HOME=/var/lib
WORKDIR /var/lib/keyaudit
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/keyaudit"]
CMD ["--help"]
