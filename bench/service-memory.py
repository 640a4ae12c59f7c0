#!/usr/bin/env python3
"""Memory of the recording service under many sessions: IDLE sessions at a shell prompt, then
BUSY ones printing as fast as they can (drained by this script, as a fast client would), and
the proportional set size (PSS, /proc/PID/smaps_rollup) of the service's processes (the daemon
and its session workers; the users' shells are not counted) at each stage.

Run by bench/service-bench.sh --memory, which starts the service in cgroup CGROUP:
    service-memory.py SESSREC CGROUP [IDLE [BUSY]]
"""
import os, pty, select, sys, time

sessrec, cgroup = sys.argv[1], sys.argv[2]
idle_n = int(sys.argv[3]) if len(sys.argv) > 3 else 45
busy_n = int(sys.argv[4]) if len(sys.argv) > 4 else 5


def service_pss():
    """(processes, PSS in bytes) of the sessrec processes in the service's cgroup tree."""
    pids = []
    for root, _, files in os.walk(cgroup):
        if 'cgroup.procs' in files:
            with open(os.path.join(root, 'cgroup.procs')) as f:
                pids += [int(x) for x in f.read().split()]
    total, n = 0, 0
    for p in pids:
        try:
            if os.path.basename(os.readlink(f'/proc/{p}/exe')) != 'sessrec':
                continue
            with open(f'/proc/{p}/smaps_rollup') as f:
                for line in f:
                    if line.startswith('Pss:'):
                        total += int(line.split()[1]) * 1024
                        n += 1
        except OSError:
            pass
    return n, total


def start(cmd):
    pid, fd = pty.fork()
    if pid == 0:
        # sh stays the client's parent: it stands in for sshd (the bench's launcher).
        os.execv('/bin/sh', ['sh', '-c', f'{sessrec} -c "$0"; exit $?', cmd])
    return pid, fd


def drain(fds, seconds):
    until = time.time() + seconds
    while time.time() < until:
        r, _, _ = select.select(fds, [], [], 0.05)
        for fd in r:
            try:
                os.read(fd, 1 << 16)
            except OSError:
                fds.remove(fd)


base_n, base = service_pss()
idle = [start('exec sh -i') for _ in range(idle_n)]
drain([fd for _, fd in idle], 3)
n1, with_idle = service_pss()
busy = [start("exec sh -c 'while :; do cat /etc/services; done'") for _ in range(busy_n)]
drain([fd for _, fd in idle + busy], 5)
n2, with_busy = service_pss()
mib = 2 ** 20
print(f'service alone: {base_n} process(es), PSS {base / mib:.2f} MiB')
print(f'+{idle_n} idle sessions: {n1} processes, PSS {with_idle / mib:.2f} MiB, '
      f'{(with_idle - base) / idle_n / mib:.2f} MiB per idle session')
print(f'+{busy_n} busy sessions: {n2} processes, PSS {with_busy / mib:.2f} MiB, '
      f'{(with_busy - with_idle) / busy_n / mib:.2f} MiB per busy session')
for pid, fd in idle + busy:
    try:
        os.kill(pid, 9)
    except OSError:
        pass
