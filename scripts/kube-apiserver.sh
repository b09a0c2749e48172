#!/usr/bin/env bash
# Provide a real Kubernetes v1.20.2 control plane (kube-apiserver, kube-controller-manager, etcd) for the
# Kubernetes runtime's integration tests on Debian 12, with no access to dl.k8s.io or the Go proxy.
#
# Debian bookworm has no kube-apiserver binary package, but its *source* package `kubernetes`
# (1.20.5+really1.20.2) carries the whole upstream tree including vendor/, which builds with Debian's Go.
# The binaries are cached, so only the first run pays the ~4 min build (2 cores).
#
# Usage: scripts/kube-apiserver.sh            # prints the bin dir on the last line of stdout
# Env:   MCPGW_KUBE_CACHE  cache dir (default $HOME/.cache/mcp-gateway/kube-v1.20.2)
# Needs: root (or passwordless apt) for apt-get; etcd comes from the `etcd-server` package.
set -euo pipefail

CACHE="${MCPGW_KUBE_CACHE:-$HOME/.cache/mcp-gateway/kube-v1.20.2}"
BIN="$CACHE/bin"
SRC_PKG="kubernetes"  # bookworm: 1.20.5+really1.20.2 (upstream v1.20.2 with vendor/)
DEBSRC_LIST=/etc/apt/sources.list.d/mcpgw-k8s-debsrc.sources
APT=(apt-get -q -y -o DPkg::Lock::Timeout=600)

log() { echo "[kube-apiserver.sh] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    die "need root for: $* (run as root or install the packages yourself)"; fi
}

have_binaries() {
  [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] &&
    "$BIN/kube-apiserver" --version 2>/dev/null | grep -q 'v1.20.2'
}

apt_updated=0
apt_update() {
  if [ "$apt_updated" = 0 ]; then log "apt-get update"; as_root "${APT[@]}" update >&2; apt_updated=1; fi
}

ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_update
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive "${APT[@]}" install --no-install-recommends "${missing[@]}" >&2 \
      || die "apt-get install ${missing[*]} failed"
  fi
}

remove_debsrc() {
  # Always drop the temporary deb-src entry so the machine's apt configuration is left as we found it.
  if [ -f "$DEBSRC_LIST" ]; then as_root rm -f "$DEBSRC_LIST"; as_root "${APT[@]}" update >/dev/null 2>&1 || true; fi
}

fetch_source() {
  local dir=$1
  as_root tee "$DEBSRC_LIST" >/dev/null <<'EOS'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
  log "apt-get update (with temporary deb-src)"
  as_root "${APT[@]}" update >&2 || die "apt-get update with deb-src failed"
  log "downloading the Debian source package $SRC_PKG from bookworm (~34 MB)"
  (cd "$dir" && apt-get -q -y --download-only source "$SRC_PKG" >&2) || die "apt-get source $SRC_PKG failed"
  remove_debsrc
}

build() {
  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/mcpgw-kube-build.XXXXXX")"
  # The 2.2 GB source tree is only needed during the build.
  trap 'rm -rf "$work"; remove_debsrc' EXIT
  ensure_packages golang-go golang-github-modern-go-reflect2-dev rsync make
  fetch_source "$work"
  log "unpacking source"
  tar -xzf "$work"/kubernetes_*.orig.tar.gz -C "$work" || die "cannot unpack the source tarball"
  local tree
  tree="$(find "$work" -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)"
  [ -n "$tree" ] || die "source tree not found after unpacking"
  # The vendored reflect2 v1.0.1 breaks on Go >= 1.18; Debian ships the fixed 1.0.2.
  log "swapping vendored reflect2 for Debian's 1.0.2"
  rm -rf "$tree/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
  rm -f "$tree/vendor/github.com/modern-go/reflect2/go.mod"
  log "building kube-apiserver and kube-controller-manager (takes ~4 min on 2 cores)"
  # Kubernetes 1.20 must be built through make (GOPATH mode); `go build -mod=vendor` refuses.
  (cd "$tree" && HOME="$work/home" CGO_ENABLED=0 make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >&2) \
    || die "make failed (see output above)"
  mkdir -p "$BIN"
  for b in kube-apiserver kube-controller-manager; do
    install -m 0755 "$tree/_output/local/bin/linux/amd64/$b" "$BIN/$b.tmp" && mv -f "$BIN/$b.tmp" "$BIN/$b"
  done
  rm -rf "$work"
  trap - EXIT
}

main() {
  ensure_packages etcd-server openssl
  command -v etcd >/dev/null || [ -x /usr/bin/etcd ] || die "etcd not found after installing etcd-server"
  if have_binaries; then
    log "cached binaries found in $BIN"
  else
    mkdir -p "$CACHE"
    # One build at a time: concurrent runs (CI and a developer shell) wait for the first one.
    exec 9>"$CACHE/.lock"
    flock 9
    if have_binaries; then log "binaries appeared while waiting for the lock"; else build; fi
    have_binaries || die "built binaries do not report v1.20.2"
    log "built into $BIN"
  fi
  echo "$BIN"
}

main "$@"
