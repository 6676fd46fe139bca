#!/bin/sh
# enclii_iac step "k3s": write the k3s configuration, install the pinned release, wait until ready.
# Idempotent: the installer runs only when the pinned version is not installed; a configuration
# change on an up-to-date node restarts the service instead.
set -eu
umask 077
# --- enclii_iac shell library: rendered by enclii_iac, do not edit on the host ---
log() { printf 'enclii: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# systemd_running: true on a booted host; false in a chroot or an image build, where services are
# neither started nor reloaded (their files still are written)
systemd_running() { [ -d /run/systemd/system ]; }
changed=0
# write_file PATH MODE BASE64 [VALIDATOR...]: atomically replace PATH (owner root:root) with the
# decoded content after VALIDATOR accepts the temporary file; sets changed=1 when the content differs
write_file() {
  wf_path=$1
  wf_mode=$2
  wf_content=$3
  shift 3
  wf_dir=$(dirname -- "$wf_path")
  [ -d "$wf_dir" ] || install -d -m 0755 -- "$wf_dir"
  wf_tmp=$(mktemp -- "$wf_path.enclii.XXXXXX")
  printf '%s' "$wf_content" | base64 -d > "$wf_tmp"
  chmod -- "$wf_mode" "$wf_tmp"
  chown root:root -- "$wf_tmp"
  if [ "$#" -gt 0 ] && ! "$@" "$wf_tmp"; then
    rm -f -- "$wf_tmp"
    die "$wf_path: rejected by $1; left unchanged"
  fi
  if [ -f "$wf_path" ] && cmp -s -- "$wf_tmp" "$wf_path"; then
    rm -f -- "$wf_tmp"
    chmod -- "$wf_mode" "$wf_path"
    chown root:root -- "$wf_path"
    return 0
  fi
  mv -f -- "$wf_tmp" "$wf_path"
  changed=1
  log "wrote $wf_path"
}
apt_updated=0
# ensure_package NAME: install a Debian package only when it is missing
ensure_package() {
  if dpkg-query -s "$1" 2>/dev/null | grep -qx 'Status: install ok installed'; then
    return 0
  fi
  if [ "$apt_updated" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$1"
}
[ "$(id -u)" -eq 0 ] || die "run as root (Pulumi runs this script through sudo)"
# --- end of library ---

version=v1.33.4+k3s1
role=agent
service=k3s-agent
installer_url=https://raw.githubusercontent.com/k3s-io/k3s/v1.33.4+k3s1/install.sh

if command -v cloud-init >/dev/null 2>&1 && systemd_running; then
  log "waiting for cloud-init to finish"
  cloud-init status --wait >/dev/null || [ "$?" -eq 2 ] || die "cloud-init failed; see /var/log/cloud-init-output.log"
fi

install -d -m 0755 -- /etc/rancher/k3s
write_file /etc/rancher/k3s/config.yaml 0600 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4Kbm9kZS1uYW1lOiB3MQpub2RlLWlwOiAxMC4wLjEuMjEKbm9kZS1leHRlcm5hbC1pcDogMTkyLjAuMi4yMQpzZXJ2ZXI6IGh0dHBzOi8vMTAuMC4xLjExOjY0NDMKdG9rZW46IEFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQpwcm90ZWN0LWtlcm5lbC1kZWZhdWx0czogdHJ1ZQprdWJlbGV0LWFyZzoKLSBzdHJlYW1pbmctY29ubmVjdGlvbi1pZGxlLXRpbWVvdXQ9NW0KLSBwb2QtbWF4LXBpZHM9NDA5NgotIHN5c3RlbS1yZXNlcnZlZD1jcHU9NTAwbSxtZW1vcnk9MUdpCi0ga3ViZS1yZXNlcnZlZD1jcHU9MSxtZW1vcnk9MkdpLGVwaGVtZXJhbC1zdG9yYWdlPTEwR2kKLSBldmljdGlvbi1oYXJkPW1lbW9yeS5hdmFpbGFibGU8NTAwTWksbm9kZWZzLmF2YWlsYWJsZTwxMCUsaW1hZ2Vmcy5hdmFpbGFibGU8MTUlLG5vZGVmcy5pbm9kZXNGcmVlPDUlCi0gZXZpY3Rpb24tc29mdD1tZW1vcnkuYXZhaWxhYmxlPDFHaQotIGV2aWN0aW9uLXNvZnQtZ3JhY2UtcGVyaW9kPW1lbW9yeS5hdmFpbGFibGU9OTBzCi0gZXZpY3Rpb24tbWF4LXBvZC1ncmFjZS1wZXJpb2Q9NjAKLSBtYWtlLWlwdGFibGVzLXV0aWwtY2hhaW5zPXRydWUKLSBldmVudC1xcHM9MAotIHRscy1jaXBoZXItc3VpdGVzPVRMU19FQ0RIRV9FQ0RTQV9XSVRIX0FFU18xMjhfR0NNX1NIQTI1NixUTFNfRUNESEVfUlNBX1dJVEhfQUVTXzEyOF9HQ01fU0hBMjU2LFRMU19FQ0RIRV9FQ0RTQV9XSVRIX0FFU18yNTZfR0NNX1NIQTM4NCxUTFNfRUNESEVfUlNBX1dJVEhfQUVTXzI1Nl9HQ01fU0hBMzg0LFRMU19FQ0RIRV9FQ0RTQV9XSVRIX0NIQUNIQTIwX1BPTFkxMzA1LFRMU19FQ0RIRV9SU0FfV0lUSF9DSEFDSEEyMF9QT0xZMTMwNQo=

installed=""
if [ -x /usr/local/bin/k3s ]; then
  installed=$(/usr/local/bin/k3s --version | head -n 1)
fi
case "$installed" in
  *" $version "*)
    if [ "$changed" -eq 1 ] && systemd_running; then
      log "configuration changed: restarting $service"
      systemctl restart "$service"
    fi
    ;;
  *)
    log "installing k3s $version ($role)"
    installer=$(mktemp)
    curl --proto '=https' --tlsv1.2 -sSfL --retry 5 -o "$installer" "$installer_url"
    INSTALL_K3S_VERSION="$version" INSTALL_K3S_EXEC="$role" sh "$installer"
    rm -f -- "$installer"
    ;;
esac

if [ "$role" = server ]; then
  tries=0
  until /usr/local/bin/k3s kubectl get --raw=/readyz >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -le 150 ] || die "the k3s API was not ready after 300 seconds (journalctl -u $service)"
    sleep 2
  done
  tls_dir=/var/lib/rancher/k3s/server/tls
  if [ -d "$tls_dir" ]; then
    find "$tls_dir" -name '*.crt' -exec chmod 600 {} +
  fi
fi
log "k3s $version ready ($role)"
