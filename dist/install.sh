#!/bin/sh
# Installs sessrec on a bastion host, as root. Idempotent: existing keys and policy are kept.
#
#   - the binary, with no setuid or setgid bit (mode 0711): the login shell is an unprivileged
#     client, which users can run but not read or trace;
#   - the recording service (sessrec daemon, root) as a systemd unit: it alone reads the
#     signing key (root, 0600) and writes the spool and the audit log;
#   - the uploader as the unprivileged system user `sessrec`, which owns the spool;
#   - the group of recorded users (default `sessrec-recorded`) and an sshd drop-in that gives
#     them nothing but their recorded shell (no forwarding, tunnels, ~/.ssh/rc or user env);
#   - sessrec is NOT listed in /etc/shells, so a recorded user cannot chsh away from it.
#
# Usage: dist/install.sh PATH/TO/sessrec
# Then, per recorded user: usermod -s /usr/local/bin/sessrec -aG sessrec-recorded USER
# Paths move with SESSREC_BIN_DIR, SESSREC_ETC, SESSREC_SPOOL, SESSREC_LOG, SESSREC_LIB,
# SESSREC_RUN, SESSREC_SHELLS, SESSREC_UNITS, SESSREC_SSHD_DIR (defaults /usr/local/bin,
# /etc/sessrec, /var/spool/sessrec, /var/log/sessrec, /var/lib/sessrec (the default file://
# store), /run/sessrec, /etc/shells, /etc/systemd/system, /etc/ssh/sshd_config.d);
# SESSREC_GROUP names the recorded users' group; SESSREC_START=no installs without starting.
set -eu
src=${1:?usage: dist/install.sh PATH/TO/sessrec}
here=$(dirname "$0")
bin_dir=${SESSREC_BIN_DIR:-/usr/local/bin}
etc=${SESSREC_ETC:-/etc/sessrec}
spool=${SESSREC_SPOOL:-/var/spool/sessrec}
log=${SESSREC_LOG:-/var/log/sessrec}
lib=${SESSREC_LIB:-/var/lib/sessrec}
run=${SESSREC_RUN:-/run/sessrec}
shells=${SESSREC_SHELLS:-/etc/shells}
units=${SESSREC_UNITS:-/etc/systemd/system}
sshd_dir=${SESSREC_SSHD_DIR:-/etc/ssh/sshd_config.d}
group=${SESSREC_GROUP:-sessrec-recorded}
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }

getent group sessrec >/dev/null || groupadd --system sessrec
id -u sessrec >/dev/null 2>&1 ||
    useradd --system --gid sessrec --home-dir "$spool" --no-create-home --shell /usr/sbin/nologin sessrec
getent group "$group" >/dev/null || groupadd --system "$group"

install -d -m 0755 "$bin_dir"
# No privilege bits (an old setgid install is replaced), and execute-only for users: the kernel
# then makes every sessrec process of a user untraceable from its first instruction, so no
# process of theirs can take over a new login client before it hands its terminal over.
install -o root -g root -m 0711 "$src" "$bin_dir/sessrec.new"
mv -f "$bin_dir/sessrec.new" "$bin_dir/sessrec"
install -d -o root -g root -m 0755 "$etc"
# The spool: the service (root) writes it, the uploader (sessrec) ships and removes, nobody else
# enters. The audit log: root's, appended to and read by the uploader (group: it tells a cut
# recording from a crash by the service's session.end events, and ships it as the host's audit
# chain), append-only if the filesystem allows.
install -d -o sessrec -g sessrec -m 0700 "$spool"
install -d -o root -g sessrec -m 0750 "$log"
[ -e "$log/audit.log" ] || install -o root -g sessrec -m 0660 /dev/null "$log/audit.log"
chown root:sessrec "$log/audit.log" && chmod 0660 "$log/audit.log"
chattr +a "$log/audit.log" 2>/dev/null || echo "note: $log/audit.log cannot be made append-only on this filesystem"
# The audit chain's head (the last line's seq and hash), rewritten by every writer under a lock.
[ -e "$log/audit.log.head" ] || install -o root -g sessrec -m 0660 /dev/null "$log/audit.log.head"
chown root:sessrec "$log/audit.log.head" && chmod 0660 "$log/audit.log.head"
install -d -o sessrec -g sessrec -m 0750 "$lib"
if [ ! -f "$etc/signing.key" ]; then
    "$bin_dir/sessrec" keygen -o "$etc/signing.key" >/dev/null
fi
chown root:root "$etc/signing.key" && chmod 0600 "$etc/signing.key"
chown root:root "$etc/signing.key.pub" && chmod 0644 "$etc/signing.key.pub"
if [ ! -f "$etc/config.toml" ]; then
    # The heredoc expands the paths above; it must hold no backquote or $( (a command would run).
    cat > "$etc/config.toml" <<CONF
# sessrec policy. Recorded users can read it, not change it.
shell = "/bin/bash"
spool = "$spool"
signing_key = "$etc/signing.key"
audit_log = "$log/audit.log"
failure_policy = "strict"      # or "best_effort": the session runs unrecorded, with an alert
capture_input = true           # never at password prompts
# Withheld keystrokes (password prompts) encrypted to the security team's age keys, for
# 'sessrec unseal' (age-keygen -o team.key; keep team.key offline). Empty: dropped.
escrow_recipients = []
withhold_suspicious = "escrow" # or "record" (in the clear) or "drop"; always marked and alerted
require_grant = false
break_glass = false
grant_dir = "$run/grants"
# Where 'sessrec upload' ships recordings: file:///DIR or s3://BUCKET/PREFIX. For S3, set
# [s3] endpoint/region here and the credentials in /etc/sessrec/uploader.env (mode 0600:
# AWS_ACCESS_KEY_ID=..., AWS_SECRET_ACCESS_KEY=...), never in this file, which users can read.
storage = "file://$lib/store"

[service]                      # the recording service, sessrec daemon
socket = "$run/sessrec.sock"
# trusted_user_ca_keys = ["/etc/ssh/user_ca.pub"]   # default: sshd's TrustedUserCAKeys

[pipe]                         # sessions without a terminal: record, allow or deny
exec = "record"
scp = "record"
sftp = "record"                # needs "Subsystem sftp /usr/lib/openssh/sftp-server" in sshd_config
rsync = "record"
CONF
    chmod 0644 "$etc/config.toml"
fi
# A shell listed here is one chsh lets users switch away from: sessrec must not be listed.
if [ -f "$shells" ] && grep -qx "$bin_dir/sessrec" "$shells"; then
    grep -vx "$bin_dir/sessrec" "$shells" > "$shells.sessrec-new" || true
    cat "$shells.sessrec-new" > "$shells" && rm -f "$shells.sessrec-new"
fi
install -d -m 0755 "$sshd_dir"
cat > "$sshd_dir/50-sessrec.conf" <<SSHD
# Installed by sessrec: recorded users reach nothing through sshd but their recorded shell.
PermitUserEnvironment no
Match Group $group
    DisableForwarding yes
    PermitTunnel no
    PermitUserRC no
    ExposeAuthInfo yes
SSHD
chmod 0644 "$sshd_dir/50-sessrec.conf"
install -d -m 0755 "$units"
sed "s|/usr/local/bin/sessrec|$bin_dir/sessrec|g" "$here/sessrec.service" > "$units/sessrec.service"
sed -e "s|/usr/local/bin/sessrec|$bin_dir/sessrec|g" -e "s|/var/spool/sessrec|$spool|g" \
    -e "s|/var/log/sessrec|$log|g" -e "s|/var/lib/sessrec|$lib|g" \
    "$here/sessrec-uploader.service" > "$units/sessrec-uploader.service"
chmod 0644 "$units/sessrec.service" "$units/sessrec-uploader.service"
if [ "${SESSREC_START:-yes}" = yes ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now sessrec.service sessrec-uploader.service
    systemctl reload ssh 2>/dev/null || systemctl reload sshd 2>/dev/null || true
fi
echo "sessrec installed: $bin_dir/sessrec (no privilege bits), service $units/sessrec.service,"
echo "policy $etc/config.toml, spool $spool, sshd drop-in $sshd_dir/50-sessrec.conf."
echo "Record a user: usermod -s $bin_dir/sessrec -aG $group USER; then run: sessrec doctor --user USER"
echo "Public key for your auditors: $etc/signing.key.pub"
