#!/bin/sh
# enclii_iac step "admin": create the admin user, its SSH keys and its sudo rule.
# Idempotent: re-running changes nothing when nothing changed.
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

admin=enclii
ensure_package sudo
if ! id -u "$admin" >/dev/null 2>&1; then
  useradd --create-home --user-group --shell /bin/bash "$admin"
  log "created user $admin"
fi
passwd --lock "$admin" >/dev/null
home=$(getent passwd "$admin" | cut -d: -f6)
[ -n "$home" ] && [ "$home" != "/" ] || die "user $admin has no home directory"
install -d -m 0700 -o "$admin" -g "$admin" -- "$home/.ssh"
write_file "$home/.ssh/authorized_keys" 0600 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4Kc3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSU9NcXFua1Z6cm0wU2RHNlVPb3FLTHNhYmdINUM5b2tXaTBkaDJsOUdLSmwgb3BzQGV4YW1wbGUK
chown -- "$admin:$admin" "$home/.ssh/authorized_keys"
write_file /etc/sudoers.d/90-enclii-admin 0440 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4KZW5jbGlpIEFMTD0oQUxMOkFMTCkgTk9QQVNTV0Q6IEFMTAo= visudo -c -q -f
if [ "$changed" -eq 1 ]; then log "admin user $admin updated"; else log "admin user $admin unchanged"; fi
