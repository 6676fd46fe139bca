#!/bin/sh
# enclii_iac step "harden": packages, sshd, kernel parameters, firewall, unattended upgrades.
# Idempotent: files are replaced only when their content differs; services reload only on a booted host.
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

ensure_package nftables
ensure_package sudo
ensure_package unattended-upgrades

sshd_dropin=/etc/ssh/sshd_config.d/50-enclii.conf
sshd_prev=""
if [ -f "$sshd_dropin" ]; then
  sshd_prev=$(mktemp)
  cp -p -- "$sshd_dropin" "$sshd_prev"
fi
write_file /etc/ssh/sshd_config.d/50-enclii.conf 0600 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4KUG9ydCAyMgpQZXJtaXRSb290TG9naW4gbm8KUGFzc3dvcmRBdXRoZW50aWNhdGlvbiBubwpLYmRJbnRlcmFjdGl2ZUF1dGhlbnRpY2F0aW9uIG5vClBlcm1pdEVtcHR5UGFzc3dvcmRzIG5vClB1YmtleUF1dGhlbnRpY2F0aW9uIHllcwpBdXRoZW50aWNhdGlvbk1ldGhvZHMgcHVibGlja2V5CkFsbG93VXNlcnMgZW5jbGlpClgxMUZvcndhcmRpbmcgbm8KQWxsb3dBZ2VudEZvcndhcmRpbmcgbm8KQWxsb3dUY3BGb3J3YXJkaW5nIG5vClBlcm1pdFR1bm5lbCBubwpNYXhBdXRoVHJpZXMgMwpMb2dpbkdyYWNlVGltZSAzMApDbGllbnRBbGl2ZUludGVydmFsIDMwMApDbGllbnRBbGl2ZUNvdW50TWF4IDIK
write_file /etc/sysctl.d/90-kubelet.conf 0644 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4Kdm0ucGFuaWNfb25fb29tID0gMAp2bS5vdmVyY29tbWl0X21lbW9yeSA9IDEKa2VybmVsLnBhbmljID0gMTAKa2VybmVsLnBhbmljX29uX29vcHMgPSAxCm5ldC5pcHY0LmlwX2ZvcndhcmQgPSAxCm5ldC5pcHY2LmNvbmYuYWxsLmZvcndhcmRpbmcgPSAxCm5ldC5icmlkZ2UuYnJpZGdlLW5mLWNhbGwtaXB0YWJsZXMgPSAxCm5ldC5icmlkZ2UuYnJpZGdlLW5mLWNhbGwtaXA2dGFibGVzID0gMQpmcy5pbm90aWZ5Lm1heF91c2VyX2luc3RhbmNlcyA9IDgxOTIKZnMuaW5vdGlmeS5tYXhfdXNlcl93YXRjaGVzID0gNTI0Mjg4Cg==
write_file /etc/sysctl.d/80-enclii-hardening.conf 0644 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4Ka2VybmVsLmtwdHJfcmVzdHJpY3QgPSAyCmtlcm5lbC5kbWVzZ19yZXN0cmljdCA9IDEKa2VybmVsLnVucHJpdmlsZWdlZF9icGZfZGlzYWJsZWQgPSAxCm5ldC5jb3JlLmJwZl9qaXRfaGFyZGVuID0gMgpmcy5wcm90ZWN0ZWRfaGFyZGxpbmtzID0gMQpmcy5wcm90ZWN0ZWRfc3ltbGlua3MgPSAxCmZzLnN1aWRfZHVtcGFibGUgPSAwCm5ldC5pcHY0LnRjcF9zeW5jb29raWVzID0gMQpuZXQuaXB2NC5jb25mLmFsbC5hY2NlcHRfcmVkaXJlY3RzID0gMApuZXQuaXB2NC5jb25mLmRlZmF1bHQuYWNjZXB0X3JlZGlyZWN0cyA9IDAKbmV0LmlwdjYuY29uZi5hbGwuYWNjZXB0X3JlZGlyZWN0cyA9IDAKbmV0LmlwdjYuY29uZi5kZWZhdWx0LmFjY2VwdF9yZWRpcmVjdHMgPSAwCm5ldC5pcHY0LmNvbmYuYWxsLnNlbmRfcmVkaXJlY3RzID0gMApuZXQuaXB2NC5jb25mLmFsbC5hY2NlcHRfc291cmNlX3JvdXRlID0gMApuZXQuaXB2Ni5jb25mLmFsbC5hY2NlcHRfc291cmNlX3JvdXRlID0gMApuZXQuaXB2NC5jb25mLmFsbC5sb2dfbWFydGlhbnMgPSAxCm5ldC5pcHY0LmNvbmYuYWxsLnJwX2ZpbHRlciA9IDEKbmV0LmlwdjQuY29uZi5kZWZhdWx0LnJwX2ZpbHRlciA9IDEKbmV0LmlwdjQuaWNtcF9lY2hvX2lnbm9yZV9icm9hZGNhc3RzID0gMQo=
write_file /etc/modules-load.d/enclii-k3s.conf 0644 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4Kb3ZlcmxheQpicl9uZXRmaWx0ZXIKd2lyZWd1YXJkCg==
write_file /etc/enclii/nftables.conf 0600 IyEvdXNyL3NiaW4vbmZ0IC1mCiMgTWFuYWdlZCBieSBlbmNsaWktaWFjOiBjaGFuZ2VzIG1hZGUgaGVyZSBhcmUgb3ZlcndyaXR0ZW4gb24gdGhlIG5leHQgYXBwbHkuCiMgaG9zdDogYXg0MQp0YWJsZSBpbmV0IGVuY2xpaQpkZWxldGUgdGFibGUgaW5ldCBlbmNsaWkKdGFibGUgaW5ldCBlbmNsaWkgewogIGNoYWluIGlucHV0IHsKICAgIHR5cGUgZmlsdGVyIGhvb2sgaW5wdXQgcHJpb3JpdHkgZmlsdGVyOyBwb2xpY3kgZHJvcDsKICAgIGN0IHN0YXRlIGVzdGFibGlzaGVkLHJlbGF0ZWQgYWNjZXB0CiAgICBjdCBzdGF0ZSBpbnZhbGlkIGRyb3AKICAgIGlpZm5hbWUgImxvIiBhY2NlcHQKICAgIGljbXAgdHlwZSB7IGVjaG8tcmVxdWVzdCwgZGVzdGluYXRpb24tdW5yZWFjaGFibGUsIHRpbWUtZXhjZWVkZWQsIHBhcmFtZXRlci1wcm9ibGVtIH0gYWNjZXB0CiAgICBpY21wdjYgdHlwZSB7IGVjaG8tcmVxdWVzdCwgZGVzdGluYXRpb24tdW5yZWFjaGFibGUsIHBhY2tldC10b28tYmlnLCB0aW1lLWV4Y2VlZGVkLCBwYXJhbWV0ZXItcHJvYmxlbSwgbmQtcm91dGVyLWFkdmVydCwgbmQtbmVpZ2hib3Itc29saWNpdCwgbmQtbmVpZ2hib3ItYWR2ZXJ0IH0gYWNjZXB0CiAgICBpaWZuYW1lIHsgImNuaTAiLCAiZmxhbm5lbC13ZyIgfSBpcCBzYWRkciAxMC40Mi4wLjAvMTYgYWNjZXB0IGNvbW1lbnQgInBvZHMgdG8gdGhlIGhvc3QiCiAgICBpcCBzYWRkciB7IDE5OC41MS4xMDAuNy8zMiB9IHRjcCBkcG9ydCAyMiBhY2NlcHQgY29tbWVudCAiU1NIIGZyb20gdGhlIGFsbG93LWxpc3QiCiAgICBpcDYgc2FkZHIgeyAyMDAxOmRiODo3OjovNDggfSB0Y3AgZHBvcnQgMjIgYWNjZXB0IGNvbW1lbnQgIlNTSCBmcm9tIHRoZSBhbGxvdy1saXN0IgogIH0KICBjaGFpbiBub2RlcG9ydHMgewogICAgdHlwZSBmaWx0ZXIgaG9vayBwcmVyb3V0aW5nIHByaW9yaXR5IC0xNTA7IHBvbGljeSBhY2NlcHQ7CiAgICBmaWIgZGFkZHIgdHlwZSAhPSBsb2NhbCByZXR1cm4KICAgIGlpZm5hbWUgImxvIiByZXR1cm4KICAgIGlpZm5hbWUgeyAiY25pMCIsICJmbGFubmVsLXdnIiB9IGlwIHNhZGRyIDEwLjQyLjAuMC8xNiByZXR1cm4KICAgIG1ldGEgbDRwcm90byB7IHRjcCwgdWRwIH0gdGggZHBvcnQgMzAwMDAtMzI3NjcgZHJvcCBjb21tZW50ICJOb2RlUG9ydHMgc3RheSBpbnNpZGUiCiAgfQogIGNoYWluIHJwZmlsdGVyIHsKICAgIHR5cGUgZmlsdGVyIGhvb2sgcHJlcm91dGluZyBwcmlvcml0eSByYXc7IHBvbGljeSBhY2NlcHQ7CiAgICBpaWZuYW1lICJsbyIgYWNjZXB0CiAgICBtZXRhIG5mcHJvdG8gaXB2NCB1ZHAgc3BvcnQgNjcgdWRwIGRwb3J0IDY4IGFjY2VwdCBjb21tZW50ICJESENQIG9mZmVycyBiZWZvcmUgYW4gYWRkcmVzcyIKICAgIG1ldGEgbmZwcm90byBpcHY2IGljbXB2NiB0eXBlIHsgbmQtcm91dGVyLWFkdmVydCwgbmQtbmVpZ2hib3Itc29saWNpdCB9IGFjY2VwdAogICAgZmliIHNhZGRyIC4gbWFyayAuIGlpZiBvaWYgbWlzc2luZyBkcm9wIGNvbW1lbnQgInN0cmljdCByZXZlcnNlIHBhdGgiCiAgfQp9Cg== nft -c -f
write_file /etc/systemd/system/enclii-firewall.service 0644 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4KW1VuaXRdCkRlc2NyaXB0aW9uPWVuY2xpaSBob3N0IGZpcmV3YWxsIChuZnRhYmxlcyB0YWJsZSBpbmV0IGVuY2xpaSkKRGVmYXVsdERlcGVuZGVuY2llcz1ubwpXYW50cz1uZXR3b3JrLXByZS50YXJnZXQKQmVmb3JlPW5ldHdvcmstcHJlLnRhcmdldCBzaHV0ZG93bi50YXJnZXQKQ29uZmxpY3RzPXNodXRkb3duLnRhcmdldAoKW1NlcnZpY2VdClR5cGU9b25lc2hvdApSZW1haW5BZnRlckV4aXQ9eWVzCkV4ZWNTdGFydD0vdXNyL3NiaW4vbmZ0IC1mIC9ldGMvZW5jbGlpL25mdGFibGVzLmNvbmYKCltJbnN0YWxsXQpXYW50ZWRCeT1zeXNpbml0LnRhcmdldAo=
write_file /etc/apt/apt.conf.d/20auto-upgrades 0644 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4KQVBUOjpQZXJpb2RpYzo6VXBkYXRlLVBhY2thZ2UtTGlzdHMgIjEiOwpBUFQ6OlBlcmlvZGljOjpVbmF0dGVuZGVkLVVwZ3JhZGUgIjEiOwo=
write_file /etc/apt/apt.conf.d/52enclii-unattended-upgrades 0644 IyBNYW5hZ2VkIGJ5IGVuY2xpaS1pYWM6IGNoYW5nZXMgbWFkZSBoZXJlIGFyZSBvdmVyd3JpdHRlbiBvbiB0aGUgbmV4dCBhcHBseS4KVW5hdHRlbmRlZC1VcGdyYWRlOjpPcmlnaW5zLVBhdHRlcm4gewogICAgICAgICJvcmlnaW49RGViaWFuLGNvZGVuYW1lPSR7ZGlzdHJvX2NvZGVuYW1lfSxsYWJlbD1EZWJpYW4tU2VjdXJpdHkiOwogICAgICAgICJvcmlnaW49RGViaWFuLGNvZGVuYW1lPSR7ZGlzdHJvX2NvZGVuYW1lfS1zZWN1cml0eSxsYWJlbD1EZWJpYW4tU2VjdXJpdHkiOwp9OwpVbmF0dGVuZGVkLVVwZ3JhZGU6OlJlbW92ZS1VbnVzZWQtS2VybmVsLVBhY2thZ2VzICJ0cnVlIjsKVW5hdHRlbmRlZC1VcGdyYWRlOjpBdXRvbWF0aWMtUmVib290ICJmYWxzZSI7ClVuYXR0ZW5kZWQtVXBncmFkZTo6QXV0b21hdGljLVJlYm9vdC1UaW1lICIwMzozMCI7Cg==

install -d -m 0755 /run/sshd
if ! /usr/sbin/sshd -t; then
  if [ -n "$sshd_prev" ]; then
    mv -f -- "$sshd_prev" "$sshd_dropin"
  else
    rm -f -- "$sshd_dropin"
  fi
  die "sshd rejected the new configuration; the previous one is restored"
fi
[ -z "$sshd_prev" ] || rm -f -- "$sshd_prev"

systemctl enable enclii-firewall.service >/dev/null 2>&1 || die "cannot enable the firewall unit"
if systemd_running; then
  systemctl daemon-reload
  while read -r module; do
    modprobe "$module" || log "kernel module $module is not available"
  done < /etc/modules-load.d/enclii-k3s.conf
  sysctl --system >/dev/null
  systemctl restart enclii-firewall.service
  systemctl reload ssh
  log "kernel parameters, firewall and sshd applied"
else
  log "systemd is not running (chroot or image build): kernel parameters, firewall and sshd apply at the next boot"
fi
if [ "$changed" -eq 1 ]; then log "hardening applied"; else log "hardening unchanged"; fi
