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
role=server
service=k3s
installer_url=https://raw.githubusercontent.com/k3s-io/k3s/v1.33.4+k3s1/install.sh

if command -v cloud-init >/dev/null 2>&1 && systemd_running; then
  log "waiting for cloud-init to finish"
  cloud-init status --wait >/dev/null || [ "$?" -eq 2 ] || die "cloud-init failed; see /var/log/cloud-init-output.log"
fi

install -d -m 0755 -- /etc/rancher/k3s
install -d -m 0700 -- /var/lib/rancher/k3s/server
install -d -m 0700 -- /var/lib/rancher/k3s/server/logs
write_file /etc/rancher/k3s/config.yaml 0600 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4Kbm9kZS1uYW1lOiBheDQxCm5vZGUtaXA6IDIwMy4wLjExMy4xMApjbHVzdGVyLWluaXQ6IHRydWUKdG9rZW46IFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVAphZ2VudC10b2tlbjogQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBCnRscy1zYW46Ci0gYXBpLmVuY2xpaS5leGFtcGxlLmNvbQotIDIwMy4wLjExMy4xMAp3cml0ZS1rdWJlY29uZmlnLW1vZGU6ICcwNjAwJwpkaXNhYmxlOgotIHNlcnZpY2VsYgpmbGFubmVsLWJhY2tlbmQ6IHdpcmVndWFyZC1uYXRpdmUKY2x1c3Rlci1jaWRyOiAxMC40Mi4wLjAvMTYKc2VydmljZS1jaWRyOiAxMC40My4wLjAvMTYKc2VjcmV0cy1lbmNyeXB0aW9uOiB0cnVlCnByb3RlY3Qta2VybmVsLWRlZmF1bHRzOiB0cnVlCmt1YmUtYXBpc2VydmVyLWFyZzoKLSBlbmFibGUtYWRtaXNzaW9uLXBsdWdpbnM9Tm9kZVJlc3RyaWN0aW9uLERlbnlTZXJ2aWNlRXh0ZXJuYWxJUHMsRXZlbnRSYXRlTGltaXQKLSBhZG1pc3Npb24tY29udHJvbC1jb25maWctZmlsZT0vdmFyL2xpYi9yYW5jaGVyL2szcy9zZXJ2ZXIvcHNhLnlhbWwKLSBzZXJ2aWNlLWFjY291bnQtZXh0ZW5kLXRva2VuLWV4cGlyYXRpb249ZmFsc2UKLSBhbm9ueW1vdXMtYXV0aD1mYWxzZQotIHByb2ZpbGluZz1mYWxzZQotIGF1ZGl0LXBvbGljeS1maWxlPS92YXIvbGliL3JhbmNoZXIvazNzL3NlcnZlci9hdWRpdC55YW1sCi0gYXVkaXQtbG9nLXBhdGg9L3Zhci9saWIvcmFuY2hlci9rM3Mvc2VydmVyL2xvZ3MvYXVkaXQubG9nCi0gYXVkaXQtbG9nLW1heGFnZT0zMAotIGF1ZGl0LWxvZy1tYXhiYWNrdXA9MTAKLSBhdWRpdC1sb2ctbWF4c2l6ZT0xMDAKa3ViZS1jb250cm9sbGVyLW1hbmFnZXItYXJnOgotIHRlcm1pbmF0ZWQtcG9kLWdjLXRocmVzaG9sZD0xMDAwCi0gcHJvZmlsaW5nPWZhbHNlCmt1YmUtc2NoZWR1bGVyLWFyZzoKLSBwcm9maWxpbmc9ZmFsc2UKa3ViZWxldC1hcmc6Ci0gc3RyZWFtaW5nLWNvbm5lY3Rpb24taWRsZS10aW1lb3V0PTVtCi0gcG9kLW1heC1waWRzPTQwOTYKLSBzeXN0ZW0tcmVzZXJ2ZWQ9Y3B1PTUwMG0sbWVtb3J5PTFHaQotIGt1YmUtcmVzZXJ2ZWQ9Y3B1PTEsbWVtb3J5PTJHaSxlcGhlbWVyYWwtc3RvcmFnZT0xMEdpCi0gZXZpY3Rpb24taGFyZD1tZW1vcnkuYXZhaWxhYmxlPDUwME1pLG5vZGVmcy5hdmFpbGFibGU8MTAlLGltYWdlZnMuYXZhaWxhYmxlPDE1JSxub2RlZnMuaW5vZGVzRnJlZTw1JQotIGV2aWN0aW9uLXNvZnQ9bWVtb3J5LmF2YWlsYWJsZTwxR2kKLSBldmljdGlvbi1zb2Z0LWdyYWNlLXBlcmlvZD1tZW1vcnkuYXZhaWxhYmxlPTkwcwotIGV2aWN0aW9uLW1heC1wb2QtZ3JhY2UtcGVyaW9kPTYwCi0gbWFrZS1pcHRhYmxlcy11dGlsLWNoYWlucz10cnVlCi0gZXZlbnQtcXBzPTAKLSB0bHMtY2lwaGVyLXN1aXRlcz1UTFNfRUNESEVfRUNEU0FfV0lUSF9BRVNfMTI4X0dDTV9TSEEyNTYsVExTX0VDREhFX1JTQV9XSVRIX0FFU18xMjhfR0NNX1NIQTI1NixUTFNfRUNESEVfRUNEU0FfV0lUSF9BRVNfMjU2X0dDTV9TSEEzODQsVExTX0VDREhFX1JTQV9XSVRIX0FFU18yNTZfR0NNX1NIQTM4NCxUTFNfRUNESEVfRUNEU0FfV0lUSF9DSEFDSEEyMF9QT0xZMTMwNSxUTFNfRUNESEVfUlNBX1dJVEhfQ0hBQ0hBMjBfUE9MWTEzMDUKZXRjZC1zbmFwc2hvdC1zY2hlZHVsZS1jcm9uOiAwICovNiAqICogKgpldGNkLXNuYXBzaG90LXJldGVudGlvbjogMjgKZXRjZC1zbmFwc2hvdC1jb21wcmVzczogdHJ1ZQpldGNkLXMzOiB0cnVlCmV0Y2QtczMtZW5kcG9pbnQ6IDAxMjM0NTY3ODlhYmNkZWYucjIuY2xvdWRmbGFyZXN0b3JhZ2UuY29tCmV0Y2QtczMtYnVja2V0OiBlbmNsaWktYmFja3VwcwpldGNkLXMzLWZvbGRlcjogZXRjZApldGNkLXMzLXJlZ2lvbjogYXV0bwpldGNkLXMzLWJ1Y2tldC1sb29rdXAtdHlwZTogcGF0aApldGNkLXMzLWFjY2Vzcy1rZXk6IEFLSURFWEFNUExFCmV0Y2QtczMtc2VjcmV0LWtleTogU0VDUkVURVhBTVBMRQo=
write_file /var/lib/rancher/k3s/server/audit.yaml 0600 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4KYXBpVmVyc2lvbjogYXVkaXQuazhzLmlvL3YxCmtpbmQ6IFBvbGljeQpvbWl0U3RhZ2VzOgotIFJlcXVlc3RSZWNlaXZlZApydWxlczoKLSBsZXZlbDogTm9uZQogIHVzZXJzOgogIC0gc3lzdGVtOmt1YmUtcHJveHkKICB2ZXJiczoKICAtIHdhdGNoCiAgcmVzb3VyY2VzOgogIC0gZ3JvdXA6ICcnCiAgICByZXNvdXJjZXM6CiAgICAtIGVuZHBvaW50cwogICAgLSBzZXJ2aWNlcwogICAgLSBzZXJ2aWNlcy9zdGF0dXMKLSBsZXZlbDogTm9uZQogIG5vblJlc291cmNlVVJMczoKICAtIC9oZWFsdGh6KgogIC0gL2xpdmV6KgogIC0gL3JlYWR5eioKICAtIC92ZXJzaW9uCi0gbGV2ZWw6IE5vbmUKICB1c2VyR3JvdXBzOgogIC0gc3lzdGVtOm5vZGVzCiAgdmVyYnM6CiAgLSBnZXQKICByZXNvdXJjZXM6CiAgLSBncm91cDogJycKICAgIHJlc291cmNlczoKICAgIC0gbm9kZXMKICAgIC0gbm9kZXMvc3RhdHVzCi0gbGV2ZWw6IE1ldGFkYXRhCiAgcmVzb3VyY2VzOgogIC0gZ3JvdXA6ICcnCiAgICByZXNvdXJjZXM6CiAgICAtIHNlY3JldHMKICAgIC0gY29uZmlnbWFwcwogIC0gZ3JvdXA6IGF1dGhlbnRpY2F0aW9uLms4cy5pbwogICAgcmVzb3VyY2VzOgogICAgLSB0b2tlbnJldmlld3MKLSBsZXZlbDogTWV0YWRhdGEK
write_file /var/lib/rancher/k3s/server/psa.yaml 0600 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4KYXBpVmVyc2lvbjogYXBpc2VydmVyLmNvbmZpZy5rOHMuaW8vdjEKa2luZDogQWRtaXNzaW9uQ29uZmlndXJhdGlvbgpwbHVnaW5zOgotIG5hbWU6IFBvZFNlY3VyaXR5CiAgY29uZmlndXJhdGlvbjoKICAgIGFwaVZlcnNpb246IHBvZC1zZWN1cml0eS5hZG1pc3Npb24uY29uZmlnLms4cy5pby92MQogICAga2luZDogUG9kU2VjdXJpdHlDb25maWd1cmF0aW9uCiAgICBkZWZhdWx0czoKICAgICAgZW5mb3JjZTogcmVzdHJpY3RlZAogICAgICBlbmZvcmNlLXZlcnNpb246IGxhdGVzdAogICAgICBhdWRpdDogcmVzdHJpY3RlZAogICAgICBhdWRpdC12ZXJzaW9uOiBsYXRlc3QKICAgICAgd2FybjogcmVzdHJpY3RlZAogICAgICB3YXJuLXZlcnNpb246IGxhdGVzdAogICAgZXhlbXB0aW9uczoKICAgICAgdXNlcm5hbWVzOiBbXQogICAgICBydW50aW1lQ2xhc3NlczogW10KICAgICAgbmFtZXNwYWNlczoKICAgICAgLSBrdWJlLXN5c3RlbQotIG5hbWU6IEV2ZW50UmF0ZUxpbWl0CiAgY29uZmlndXJhdGlvbjoKICAgIGFwaVZlcnNpb246IGV2ZW50cmF0ZWxpbWl0LmFkbWlzc2lvbi5rOHMuaW8vdjFhbHBoYTEKICAgIGtpbmQ6IENvbmZpZ3VyYXRpb24KICAgIGxpbWl0czoKICAgIC0gdHlwZTogU2VydmVyCiAgICAgIHFwczogNTAwMAogICAgICBidXJzdDogMjAwMDAK

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
