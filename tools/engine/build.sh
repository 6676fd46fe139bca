#!/usr/bin/env bash
# Build the engine tier's binaries from Go registry modules only (no prebuilt download, no copied source):
#   pulumi CLI, pulumi-resource-kubernetes, the project's own Python language host (+ the SDK's exec shim),
#   kube-apiserver / kube-controller-manager / kube-scheduler / kubectl, kwok; and the CRDs of the operators
#   tenants use (Prometheus Operator, KEDA, Traefik), taken from those projects' own Go modules.
# Usage: tools/engine/build.sh [TARGET...]   targets: cli kubernetes langhost kube kwok crds cnpg-crds helmcrds (default: all)
# Output: $ENCLII_ENGINE_CACHE (default ~/.cache/enclii-engine)/bin, one symlink per binary into a directory
# keyed by that binary's version; a rerun with unchanged versions builds nothing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$HERE/versions.env"
CACHE=${ENCLII_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enclii-engine}
BIN=$CACHE/bin
mkdir -p "$BIN" "$CACHE/build"
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
GOMODCACHE=$(go env GOMODCACHE)
T0=$(date +%s)

log() { printf '[engine-build %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# fetch MODULE@VERSION: download into the module cache, or fail naming the module and version.
fetch() {
  local out
  if ! out=$(go mod download -json "$1" 2>&1); then
    die "cannot fetch Go module $1 from the module proxy: $(printf '%s' "$out" | grep -m1 -E 'Error|error|403|404' || printf '%s' "$out" | tail -n 1)"
  fi
}

# tidy DIR: go mod tidy, failing with the module that could not be fetched.
tidy() {
  local out
  if ! out=$(cd "$1" && go mod tidy 2>&1); then
    die "go mod tidy in $1 could not resolve every module: $(printf '%s' "$out" | grep -m3 -E 'module|reading|403|404|verifying' | tr '\n' ' ')"
  fi
}

# link KEYDIR NAME...: expose KEYDIR/NAME as BIN/NAME.
link() { local dir=$1; shift; for n in "$@"; do ln -sfn "$dir/$n" "$BIN/$n"; done; }

have() { local dir=$1; shift; for n in "$@"; do [ -x "$dir/$n" ] || return 1; done; }

build_cli() {
  local out=$CACHE/pulumi-$PULUMI_VERSION
  if have "$out" pulumi pulumi-language-python-exec; then link "$out" pulumi pulumi-language-python-exec; log "pulumi $PULUMI_VERSION: cached"; return; fi
  log "pulumi $PULUMI_VERSION: fetching modules"
  fetch "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION"
  fetch "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
  local w=$CACHE/build/pulumi-$PULUMI_VERSION
  mkdir -p "$w"
  cat >"$w/go.mod" <<MOD
module enginebuild/pulumicli

go 1.26

replace github.com/atotto/clipboard => ${CLIPBOARD_REPLACE%@*} ${CLIPBOARD_REPLACE#*@}

require (
	github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION
)
MOD
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' >"$w/tools.go"
  log "pulumi $PULUMI_VERSION: go mod tidy (about 250 modules)"
  tidy "$w"
  log "pulumi $PULUMI_VERSION: go build (about 10-20 min cold)"
  mkdir -p "$out.tmp"
  (cd "$w" && go build -o "$out.tmp/pulumi" \
     -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
     github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) || die "go build of the pulumi CLI $PULUMI_VERSION"
  install -m 0755 "$GOMODCACHE/github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION/python/cmd/pulumi-language-python-exec" "$out.tmp/"
  rm -rf "$out"; mv "$out.tmp" "$out"
  link "$out" pulumi pulumi-language-python-exec
  log "pulumi $PULUMI_VERSION: built ($("$out/pulumi" version))"
}

build_langhost() {
  local src=$HERE/langhost
  local key
  key=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)
  local out=$CACHE/langhost-$PULUMI_VERSION-$key
  if have "$out" pulumi-language-python; then link "$out" pulumi-language-python; log "language host $key: cached"; return; fi
  fetch "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
  local w=$CACHE/build/langhost-$key
  rm -rf "$w"; mkdir -p "$w"
  cp "$src/main.go" "$src/go.mod" "$src/go.sum" "$w/"
  grep -q "github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION\$" "$w/go.mod" \
    || die "tools/engine/langhost/go.mod must require github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION"
  log "language host $key: go build (go.mod and go.sum pinned in the repository)"
  (cd "$w" && go mod download) || die "go mod download for the language host (a module of tools/engine/langhost/go.sum)"
  mkdir -p "$out.tmp"
  (cd "$w" && go build -o "$out.tmp/pulumi-language-python" .) || die "go build of the language host"
  rm -rf "$out"; mv "$out.tmp" "$out"
  link "$out" pulumi-language-python
  log "language host $key: built"
}

build_kubernetes() {
  local out=$CACHE/kubernetes-$K8S_PROVIDER_VERSION
  if have "$out" pulumi-resource-kubernetes; then link "$out" pulumi-resource-kubernetes; log "pulumi-resource-kubernetes $K8S_PROVIDER_VERSION: cached"; return; fi
  local mod=github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_MODULE_VERSION
  log "pulumi-resource-kubernetes $K8S_PROVIDER_VERSION: fetching $mod"
  fetch "$mod"
  fetch "github.com/pulumi/pulumi-kubernetes/sdk/v4@v$K8S_PROVIDER_VERSION"
  # The module's go.mod replaces sdk/v4 with ../sdk (a sibling directory of the git repository that a
  # module zip cannot contain) and its generate step writes embedded files: build in a writable copy of
  # the registry module with that replace pointed at the registry's sdk/v4 module.
  local w=$CACHE/build/kubernetes-$K8S_PROVIDER_VERSION
  rm -rf "$w"; mkdir -p "$w"
  cp -r "$GOMODCACHE/$mod/." "$w/"
  chmod -R u+w "$w"
  sed -i "s#^replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => ../sdk#replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => github.com/pulumi/pulumi-kubernetes/sdk/v4 v$K8S_PROVIDER_VERSION#" "$w/go.mod"
  grep -q "sdk/v4 => github.com/pulumi/pulumi-kubernetes/sdk/v4 v$K8S_PROVIDER_VERSION" "$w/go.mod" || die "unexpected go.mod in $mod (the sdk/v4 replace line changed)"
  log "pulumi-resource-kubernetes: go mod tidy"
  tidy "$w"
  log "pulumi-resource-kubernetes: generating the embedded schema"
  (cd "$w/cmd/pulumi-resource-kubernetes" && VERSION=$K8S_PROVIDER_VERSION go run ./generate.go >/dev/null) || die "schema generation of pulumi-resource-kubernetes"
  log "pulumi-resource-kubernetes: go build (about 15 min cold, 5 GB peak)"
  mkdir -p "$out.tmp"
  (cd "$w" && go build -o "$out.tmp/pulumi-resource-kubernetes" \
     -ldflags "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_VERSION" \
     ./cmd/pulumi-resource-kubernetes) || die "go build of pulumi-resource-kubernetes"
  rm -rf "$out"; mv "$out.tmp" "$out"
  rm -rf "$w"
  link "$out" pulumi-resource-kubernetes
  log "pulumi-resource-kubernetes $K8S_PROVIDER_VERSION: built"
}

KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
build_kube() {
  local out=$CACHE/kubernetes-$KUBERNETES_VERSION
  if have "$out" "${KUBE_BINS[@]}"; then link "$out" "${KUBE_BINS[@]}"; log "kubernetes $KUBERNETES_VERSION: cached"; return; fi
  log "kubernetes $KUBERNETES_VERSION: fetching k8s.io/kubernetes"
  fetch "k8s.io/kubernetes@$KUBERNETES_VERSION"
  local w=$CACHE/build/kube-$KUBERNETES_VERSION
  mkdir -p "$w"
  # k8s.io/kubernetes replaces its staging modules with ./staging/...; map each to its published module.
  {
    printf 'module enginebuild/kube\n\ngo 1.25.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBERNETES_VERSION"
    sed -n '/^replace (/,/^)/p' "$GOMODCACHE/k8s.io/kubernetes@$KUBERNETES_VERSION/go.mod" \
      | awk -v v="$KUBERNETES_STAGING_VERSION" '/=> \.\/staging/ {print "\t" $1 " => " $1 " " v}'
    printf ')\n'
  } >"$w/go.mod"
  [ "$(grep -c '=> k8s.io/' "$w/go.mod")" -gt 20 ] || die "no staging replaces found in k8s.io/kubernetes@$KUBERNETES_VERSION/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for b in "${KUBE_BINS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$b"; done
    printf ')\n'
  } >"$w/tools.go"
  log "kubernetes: go mod tidy"
  tidy "$w"
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local ld="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1"
  ld+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  ld+=" -X k8s.io/component-base/version.gitCommit=0000000000000000000000000000000000000000"
  ld+=" -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
  log "kubernetes: go build ${KUBE_BINS[*]} (about 10-13 min cold)"
  mkdir -p "$out.tmp"
  local pkgs=()
  for b in "${KUBE_BINS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  (cd "$w" && go build -ldflags "$ld" -o "$out.tmp/" "${pkgs[@]}") || die "go build of kubernetes $KUBERNETES_VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
  link "$out" "${KUBE_BINS[@]}"
  log "kubernetes $KUBERNETES_VERSION: built"
}

build_kwok() {
  local out=$CACHE/kwok-$KWOK_VERSION
  if have "$out" kwok && [ -d "$out/stages" ]; then link "$out" kwok; log "kwok $KWOK_VERSION: cached"; return; fi
  log "kwok $KWOK_VERSION: go install"
  fetch "sigs.k8s.io/kwok@$KWOK_VERSION"
  mkdir -p "$out.tmp/stages"
  GOBIN="$out.tmp" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" || die "go install sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # Stage configs ship in the module (kustomize/stage); keep the ones the local cluster uses.
  local st=$GOMODCACHE/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage
  cp "$st/node/fast/node-initialize.yaml" "$st/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" "$out.tmp/stages/"
  cp "$st"/pod/fast/pod-*.yaml "$out.tmp/stages/"
  chmod -R u+w "$out.tmp"
  rm -rf "$out"; mv "$out.tmp" "$out"
  link "$out" kwok
  ln -sfn "$out/stages" "$CACHE/kwok-stages"
  log "kwok $KWOK_VERSION: built"
}

build_crds() {
  local out=$CACHE/crds-prometheus-operator-$PROMETHEUS_OPERATOR_VERSION-keda-$KEDA_VERSION-traefik-$TRAEFIK_VERSION
  if [ -s "$out/.complete" ]; then ln -sfn "$out" "$CACHE/crds"; log "CRDs: cached"; return; fi
  local po=github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION
  local keda=github.com/kedacore/keda/v2@$KEDA_VERSION
  local traefik=github.com/traefik/traefik/v3@$TRAEFIK_VERSION
  log "CRDs: fetching $po $keda $traefik"
  fetch "$po"; fetch "$keda"; fetch "$traefik"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  local f
  for f in servicemonitors podmonitors prometheusrules; do
    cp "$GOMODCACHE/$po/example/prometheus-operator-crd/monitoring.coreos.com_$f.yaml" "$out.tmp/" \
      || die "no $f CRD in $po"
  done
  for f in scaledobjects scaledjobs triggerauthentications clustertriggerauthentications; do
    cp "$GOMODCACHE/$keda/config/crd/bases/keda.sh_$f.yaml" "$out.tmp/" || die "no $f CRD in $keda"
  done
  cp "$GOMODCACHE/$traefik/docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml" \
    "$out.tmp/traefik.io_crds.yaml" || die "no CRD definitions in $traefik"
  chmod -R u+w "$out.tmp"
  printf '%s\n' "$po" "$keda" "$traefik" >"$out.tmp/.complete"
  rm -rf "$out"; mv "$out.tmp" "$out"
  ln -sfn "$out" "$CACHE/crds"
  log "CRDs: ready"
}

# CloudNativePG's CRDs (Cluster, Backup, ScheduledBackup...) from the operator's Go module: the proxy serves the
# exact version (its @v/list answers 403), so the version is pinned in versions.env.
build_cnpg_crds() {
  local out=$CACHE/crds-cnpg-$CNPG_VERSION
  if [ -s "$out/.complete" ]; then ln -sfn "$out" "$CACHE/crds-cnpg"; log "CNPG CRDs: cached"; return; fi
  local cnpg=github.com/cloudnative-pg/cloudnative-pg@$CNPG_VERSION
  log "CNPG CRDs: fetching $cnpg"
  fetch "$cnpg"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  local f
  for f in clusters backups scheduledbackups; do
    cp "$GOMODCACHE/$cnpg/config/crd/bases/postgresql.cnpg.io_$f.yaml" "$out.tmp/" || die "no $f CRD in $cnpg"
  done
  chmod -R u+w "$out.tmp"
  printf '%s\n' "$cnpg" >"$out.tmp/.complete"
  rm -rf "$out"; mv "$out.tmp" "$out"
  ln -sfn "$out" "$CACHE/crds-cnpg"
  log "CNPG CRDs: ready"
}

build_helmcrds() {
  local out=$CACHE/crds-helm-controller-$HELM_CONTROLLER_VERSION
  if [ -s "$out/.complete" ]; then ln -sfn "$out" "$CACHE/helm-crds"; log "helm-controller CRDs: cached"; return; fi
  local hc=github.com/k3s-io/helm-controller@$HELM_CONTROLLER_VERSION
  log "helm-controller CRDs: fetching $hc"
  fetch "$hc"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  local f
  for f in helmcharts helmchartconfigs; do
    cp "$GOMODCACHE/$hc/pkg/crds/yaml/generated/helm.cattle.io_$f.yaml" "$out.tmp/" || die "no $f CRD in $hc"
  done
  chmod -R u+w "$out.tmp"
  printf '%s\n' "$hc" >"$out.tmp/.complete"
  rm -rf "$out"; mv "$out.tmp" "$out"
  ln -sfn "$out" "$CACHE/helm-crds"
  log "helm-controller CRDs: ready"
}

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(crds cnpg-crds helmcrds cli langhost kube kwok kubernetes)
for t in "${targets[@]}"; do
  case $t in
    cli) build_cli ;;
    langhost) build_langhost ;;
    kubernetes) build_kubernetes ;;
    kube) build_kube ;;
    kwok) build_kwok ;;
    crds) build_crds ;;
    cnpg-crds) build_cnpg_crds ;;
    helmcrds) build_helmcrds ;;
    *) die "unknown target $t (cli kubernetes langhost kube kwok crds cnpg-crds helmcrds)" ;;
  esac
done
log "done: $BIN"
