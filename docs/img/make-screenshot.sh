#!/usr/bin/env bash
# Makes docs/img/play.png, the README's picture of `sessrec play`: records a short scripted
# shell session with sessrec in tmux, plays it in tmux, captures the pane with its colours
# (capture-pane -e), turns that into HTML with aha and the HTML into a PNG with headless
# Chromium. Needs (Debian): tmux aha chromium fonts-dejavu-core fonts-symbola (for ⏸).
# Usage: docs/img/make-screenshot.sh [SESSREC_BINARY]   (default target/release/sessrec)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-target/release/sessrec}")
out=$PWD/docs/img/play.png
w=$(mktemp -d)
tmux="tmux -L sessrec-screenshot -f /dev/null"
trap '$tmux kill-server 2>/dev/null || true; rm -rf "$w"' EXIT

"$bin" keygen -o "$w/key" >/dev/null
cat > "$w/rc" <<'RC'
PS1='\[\e[1;32m\]oncall@bastion-1\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]$ '
cd /var/log
RC
# The session: 96×22, typed into a real PTY by tmux.
$tmux new-session -d -s rec -x 96 -y 22 \
    "env TERM=xterm-256color USER=oncall '$bin' rec -q -o '$w/s.cast.zst' --sign-key '$w/key' -- bash --rcfile '$w/rc' -i"
type() { $tmux send-keys -t rec -l "$1"; $tmux send-keys -t rec Enter; sleep "${2:-1}"; }
sleep 1
type 'uptime'
type 'ls -l --color=always | tail -n 4'
type "read -rs -p 'Password for the break-glass account: ' pw; echo" 0.5
type 'hunter2' 1   # withheld: a marker, not the keystrokes
type 'df -h / | column -t'
type 'grep -c session /etc/services || true'
type "printf '\e[1;31mERROR\e[0m timeout: \e[35mdb-1\e[0m\n'"
type 'exit' 1
while $tmux has-session -t rec 2>/dev/null; do sleep 0.2; done

# The player: 126×26 (the recording and the keystroke pane), paused at 90 %.
$tmux new-session -d -s play -x 126 -y 26 \
    "env TERM=xterm-256color XDG_CACHE_HOME='$w/cache' '$bin' play '$w/s.cast.zst' --key '$w/key.pub' --paused; sleep 60"
sleep 2
$tmux send-keys -t play 9 k
sleep 2
$tmux capture-pane -t play -e -p > "$w/play.ansi"

{
    cat <<'HTML'
<!DOCTYPE html><html><head><meta charset="utf-8"><style>
body { margin: 0; background: #161616; color: #d8d8d8; }
pre { margin: 10px; font-family: 'DejaVu Sans Mono', monospace; font-size: 14px; line-height: 17px; }
</style></head><body><pre>
HTML
    aha --no-header --black < "$w/play.ansi"
    echo '</pre></body></html>'
} > "$w/play.html"
# 126 columns of DejaVu Sans Mono at 14 px are 1062 px; 26 rows of 17 px are 442 px.
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$w/chromium" \
    --window-size=1082,462 --screenshot="$out" "file://$w/play.html" 2>/dev/null
ls -l "$out"
