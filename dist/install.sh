#!/bin/sh
# Installs sessrec on a bastion host, as root: the sessrec group, the binary setgid to it, the
# spool and audit log directories only that group can enter, a signing key only that group can
# read, a default policy, and the binary in /etc/shells. Idempotent: existing keys and policy are
# kept. The recorded users are never in the sessrec group, so they can neither read nor change
# recordings or the key; their shells run with their own ids.
#
# Usage: dist/install.sh PATH/TO/sessrec
# Paths can be moved with SESSREC_BIN_DIR, SESSREC_ETC, SESSREC_SPOOL, SESSREC_LOG, SESSREC_LIB,
# SESSREC_SHELLS (defaults /usr/local/bin, /etc/sessrec, /var/spool/sessrec, /var/log/sessrec,
# /var/lib/sessrec (the default file:// store), /etc/shells).
# Then make it a user's login shell: usermod -s /usr/local/bin/sessrec USER
set -eu
src=${1:?usage: dist/install.sh PATH/TO/sessrec}
bin_dir=${SESSREC_BIN_DIR:-/usr/local/bin}
etc=${SESSREC_ETC:-/etc/sessrec}
spool=${SESSREC_SPOOL:-/var/spool/sessrec}
log=${SESSREC_LOG:-/var/log/sessrec}
lib=${SESSREC_LIB:-/var/lib/sessrec}
shells=${SESSREC_SHELLS:-/etc/shells}
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }

getent group sessrec >/dev/null || groupadd --system sessrec
install -d -m 0755 "$bin_dir"
install -o root -g sessrec -m 2755 "$src" "$bin_dir/sessrec"
install -d -o root -g root -m 0755 "$etc"
install -d -o root -g sessrec -m 0770 "$spool" "$log"
install -d -o root -g sessrec -m 0750 "$lib"
if [ ! -f "$etc/signing.key" ]; then
    "$bin_dir/sessrec" keygen -o "$etc/signing.key" >/dev/null
fi
chown root:sessrec "$etc/signing.key" && chmod 0640 "$etc/signing.key"
chown root:root "$etc/signing.key.pub" && chmod 0644 "$etc/signing.key.pub"
if [ ! -f "$etc/config.toml" ]; then
    # The heredoc expands the paths above; it must hold no backquote or $( (a command would run).
    cat > "$etc/config.toml" <<CONF
# sessrec policy. Recorded users cannot change it.
shell = "/bin/bash"
spool = "$spool"
signing_key = "$etc/signing.key"
audit_log = "$log/audit.log"
failure_policy = "strict"      # or "best_effort"
capture_input = true           # never at password prompts
require_grant = false
break_glass = false
grant_dir = "/run/sessrec/grants"
# Where 'sessrec upload' ships recordings: file:///DIR or s3://BUCKET/PREFIX. For S3, set
# [s3] endpoint/region here and the credentials in /etc/sessrec/uploader.env (mode 0600:
# AWS_ACCESS_KEY_ID=..., AWS_SECRET_ACCESS_KEY=...), never in this file, which users can read.
storage = "file://$lib/store"

[pipe]                         # sessions without a terminal: record, allow or deny
exec = "record"
scp = "record"
sftp = "record"                # needs "Subsystem sftp /usr/lib/openssh/sftp-server" in sshd_config
rsync = "record"
CONF
    chmod 0644 "$etc/config.toml"
fi
touch "$shells"
grep -qx "$bin_dir/sessrec" "$shells" || echo "$bin_dir/sessrec" >> "$shells"
echo "sessrec installed: $bin_dir/sessrec (setgid sessrec), policy $etc/config.toml, spool $spool,"
echo "public key $etc/signing.key.pub (give it to your auditors)."
