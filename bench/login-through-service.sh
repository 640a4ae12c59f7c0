#!/bin/sh
# A recbench recorder template for sessrec's login path: runs CMD the way sshd runs
# `ssh -t host CMD` (the login client `sessrec -c CMD` on a terminal, handing it to the
# recording service), then moves the session's recording from the spool to OUT.
# Usage (by bench/service-bench.sh): login-through-service.sh SESSREC SPOOL OUT CMD
sessrec=$1 spool=$2 out=$3 cmd=$4
"$sessrec" -c "$cmd"
status=$?
rec=$(ls -t "$spool"/*.cast.zst 2>/dev/null | head -1)
[ -n "$rec" ] && mv "$rec" "$out.cast.zst"
exit $status
