#!/usr/bin/env python3
"""Spool-to-store lag of a live session: a recorded command prints the time every 100 ms for
30 s while `sessrec upload` runs as a service against a file:// store; every 100 ms this script
joins the session's live parts in the store, finds the newest time they contain, and records how
far behind now it is. Prints the median and 95th percentile.

Usage: scripts/bench-lag.py [SECONDS]   (after cargo build --release)
"""
import glob, os, subprocess, sys, tempfile, time

secs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
bin = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "sessrec")
work = tempfile.mkdtemp(prefix="sessrec-lag-")
os.makedirs(f"{work}/spool")
subprocess.run([bin, "keygen", "-o", f"{work}/key"], check=True, capture_output=True)
with open(f"{work}/config.toml", "w") as f:
    f.write(f'spool = "{work}/spool"\nsigning_key = "{work}/key"\nstorage = "file://{work}/store"\n'
            f'audit_log = "{work}/audit.log"\nsyslog = false\n')
uploader = subprocess.Popen([bin, "upload", "--config", f"{work}/config.toml"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
loop = f"i=0; while [ $i -lt {secs * 10} ]; do date +T%s.%N; sleep 0.1; i=$((i+1)); done"
rec = subprocess.Popen([bin, "rec", "-q", "-o", f"{work}/spool/live.cast.zst", "--sign-key",
                        f"{work}/key", "--", "sh", "-c", loop],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
lags = []
while rec.poll() is None:
    time.sleep(0.1)
    parts = sorted(glob.glob(f"{work}/store/live/*/*.part"))
    if not parts:
        continue
    joined = b"".join(open(p, "rb").read() for p in parts)
    with open(f"{work}/joined.cast.zst", "wb") as f:
        f.write(joined)
    subprocess.run([bin, "convert", "--force", f"{work}/joined.cast.zst", f"{work}/joined.raw",
                    "--to", "raw"], capture_output=True)
    try:
        text = open(f"{work}/joined.raw", "rb").read().decode(errors="replace")
    except FileNotFoundError:
        continue
    stamps = [float(t) for t in text.replace("\r", "").split("T")[1:] if t.strip().replace(".", "").isdigit()]
    if stamps:
        lags.append(time.time() - max(stamps))
uploader.terminate()
lags = sorted(lags[10:])  # after the first second
if not lags:
    sys.exit("no samples")
print(f"lag over {len(lags)} samples: median {lags[len(lags)//2]:.2f} s, "
      f"p95 {lags[int(len(lags)*0.95)]:.2f} s, max {lags[-1]:.2f} s")
