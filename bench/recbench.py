#!/usr/bin/env python3
"""recbench -- side-by-side benchmark harness for terminal session recorders.

Every recorder runs in a real pseudo-terminal (controlling tty, 120x40 window),
as under sshd, on three tests:
  throughput  wraps `cat CORPUS` (generated log lines, ANSI colour, UTF-8); the
              harness drains the pty as fast as it can.
  latency     wraps `stty raw -echo; dd bs=1`; one byte at a time is written to
              the pty and timed until it comes back.
  session     wraps `bash --norc -i`; a 60-step session is typed at a human
              rhythm compressed 40x; key echo and prompt return are timed.
Each recorder run is paired with a no-recorder baseline run just before it
(A B A C ...), the recorder order rotates every round, and the medians of the
per-pair ratios/deltas are reported.  Recordings are decoded (script, asciicast
v1/v2/v3, ttyrec, tlog JSON, gzip/xz/bz2/zstd, else raw) and compared with what
was sent: a recorder that drops data is flagged LOSSY.

sessrec is a built-in recorder once target/release/sessrec exists beside this folder.
Templates: {out} is the recording path, {cmd} the command as ONE shell-quoted
word (write `-c {cmd}`; quotes around it are stripped), {shcmd} the same
wrapped as `/bin/sh -c CMD`.  Stdlib only, Linux only (pty, /proc).
"""
import argparse, bz2, fcntl, glob, gzip, json, lzma, math, os, platform, random, re
import resource, select, shlex, shutil, signal, statistics, struct, subprocess, sys, termios, time

ROWS, COLS, BASE, PROMPT = 40, 120, 'none', b'[rb]> '
DEFAULT_RECORDERS = {
    BASE:         '/bin/sh -c {cmd}',
    'script':     'script -q -f -O {out} -T {out}.tm -c {cmd}',
    'script-in':  'script -q -f -O {out} -I {out}.in -T {out}.tm -c {cmd}',
    'asciinema2': 'asciinema rec --stdin -q -c {cmd} {out}',
    'asciinema3': 'asciinema3 rec --capture-input -q -c {cmd} {out}',
    'ttyrec':     'ttyrec -e {cmd} {out}',
    'termrec':    'termrec -f ttyrec -e {shcmd} {out}',   # termrec prepends 'exec ' to -e
    'tlog':       'tlog-rec -w file -o {out} --log-input /bin/sh -c {cmd}',
}
# sessrec itself, once built in this repository (`cargo build --release`).
SESSREC = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'target', 'release', 'sessrec')
if os.path.exists(SESSREC):
    DEFAULT_RECORDERS['sessrec'] = shlex.quote(os.path.realpath(SESSREC)) + ' rec -q --force -o {out} -- /bin/sh -c {cmd}'
PAGE, TICK = os.sysconf('SC_PAGE_SIZE'), os.sysconf('SC_CLK_TCK')


def log(*a):
    print(time.strftime('%H:%M:%S'), *a, file=sys.stderr, flush=True)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else None


def descendants(pid):
    """pid and all its descendants (via /proc/PID/task/TID/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f'/proc/{p}/task'):
                with open(f'/proc/{p}/task/{t}/children') as f:
                    todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def cgroup_pids(d):
    """Every pid in cgroup directory d and below it."""
    out = []
    for root, _, files in os.walk(d):
        if 'cgroup.procs' in files:
            try:
                with open(os.path.join(root, 'cgroup.procs')) as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                pass
    return out


def cgroup_cpu(d):
    """(user, system) seconds used by cgroup d and everything below it."""
    try:
        with open(os.path.join(d, 'cpu.stat')) as f:
            st = dict(line.split() for line in f if line.strip())
        return int(st['user_usec']) / 1e6, int(st['system_usec']) / 1e6
    except (OSError, KeyError, ValueError):
        return 0.0, 0.0


# Recorders whose recording side runs outside the tree the harness starts (a recording
# service): NAME -> the service's cgroup v2 directory (--service-cgroup), whose CPU and
# processes are counted with the recorder's tree.
SERVICE_CGROUPS = {}


class Pty:
    """argv on the slave side of a fresh pty that is its controlling terminal."""

    def __init__(self, argv, env, cwd, cgroup=None):
        self.cgroup = cgroup
        self.cg_cpu0 = cgroup_cpu(cgroup) if cgroup else (0.0, 0.0)
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', ROWS, COLS, 0, 0))
        rd, wr = os.pipe()                      # close-on-exec: EOF once exec succeeded
        self.t0, self.pid = time.perf_counter(), os.fork()
        if self.pid == 0:
            try:
                os.close(self.master), os.close(rd), os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                os.close(slave), os.chdir(cwd), os.execvpe(argv[0], argv, env)
            except BaseException as e:
                os.write(wr, f'cannot exec {argv[0]}: {e}'.encode())
            os._exit(127)
        os.close(slave), os.close(wr)
        self.exec_error = os.read(rd, 4096).decode()  # so no sample sees the pre-exec fork
        os.close(rd)
        self.poller = select.poll()
        self.poller.register(self.master, select.POLLIN)
        self.eof, self.ticks, self.hwm, self.rss_tree, self.next_sample = False, {}, {}, 0, 0.0

    def read(self, timeout_s):
        """Bytes available within timeout_s; b'' on timeout or EOF (sets .eof)."""
        if self.eof or not self.poller.poll(timeout_s * 1000):
            return b''
        try:
            data = os.read(self.master, 1 << 16)
        except OSError:                         # EIO: every slave fd is closed
            data = b''
        if b'\x1b[c' in data or b'\x1b[0c' in data:  # be a terminal: answer Device Attributes
            os.write(self.master, b'\x1b[?62;22c')     # (asciinema 3 waits 1 s for it otherwise)
        self.eof = not data
        return data

    def write(self, data):
        os.write(self.master, data)

    def sample(self, every=0.1):
        """Sample the tree: summed RSS, per-process CPU ticks and VmHWM (peak RSS;
        wait4's ru_maxrss is useless here, it inherits the harness's own size)."""
        now = time.perf_counter()
        if now < self.next_sample:
            return
        self.next_sample, rss = now + every, 0
        tree = descendants(self.pid)
        service = [p for p in cgroup_pids(self.cgroup) if p not in tree] if self.cgroup else []
        for p in tree + service:
            try:
                with open(f'/proc/{p}/stat') as f:
                    st = f.read().rsplit(')', 1)[1].split()
                with open(f'/proc/{p}/status') as f:
                    hwm = re.search(r'VmHWM:\s+(\d+)', f.read())
            except OSError:
                continue
            rss += int(st[21]) * PAGE
            if p not in service:                # the service's CPU comes from its cgroup
                self.ticks[p] = (int(st[11]), int(st[12]))
            self.hwm[p] = int(hwm.group(1)) * 1024 if hwm else 0
        self.rss_tree = max(self.rss_tree, rss)

    def finish(self, timeout_s):
        """Keep draining until the recorder exits (SIGKILL its tree after
        timeout_s); return wall/CPU/memory metrics."""
        deadline, status = time.perf_counter() + timeout_s, None
        while True:
            pid, st, ru = os.wait4(self.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                for p in reversed(descendants(self.pid)):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                status = 'timeout'
            self.sample()
            if not self.read(0.002) and self.eof:
                time.sleep(0.001)
        wall = time.perf_counter() - self.t0
        while self.read(0):
            pass
        os.close(self.master)
        self.master = -1
        usr = max(ru.ru_utime, sum(t[0] for t in self.ticks.values()) / TICK)   # wait4 misses
        sys_ = max(ru.ru_stime, sum(t[1] for t in self.ticks.values()) / TICK)  # unreaped kids
        if self.cgroup:
            cu, cs = cgroup_cpu(self.cgroup)
            usr, sys_ = usr + cu - self.cg_cpu0[0], sys_ + cs - self.cg_cpu0[1]
        return {'status': self.exec_error or status or os.waitstatus_to_exitcode(st),
                'wall_s': wall, 'cpu_s': usr + sys_, 'usr_s': usr, 'sys_s': sys_,
                'maxrss_mb': max(self.hwm.values(), default=0) / 2**20, 'rss_tree_mb': self.rss_tree / 2**20}


# ------------------------------------------------------------------ recordings
MAGICS = {b'\x1f\x8b': gzip.decompress, b'\xfd7zXZ\x00': lzma.decompress, b'BZh': bz2.decompress,
          b'\x28\xb5\x2f\xfd': lambda d: subprocess.run(['zstd', '-dcq'], input=d, stdout=subprocess.PIPE,
                                                         check=True).stdout}
NL = b'\n'


def load(path):
    """Recording bytes, transparently decompressed; (data, was_compressed)."""
    with open(path, 'rb') as f:
        data = f.read()
    for magic, unpack in MAGICS.items():
        if data.startswith(magic):
            return unpack(data), True
    return data, False


def decode_tlog(lines):
    """tlog JSON messages -> (output, input); 'timing' orders txt and bin parts."""
    out, inp = bytearray(), bytearray()
    for line in filter(bytes.strip, lines):
        m = json.loads(line)
        src = {'>': m.get('out_txt', ''), '<': m.get('in_txt', ''), ']': m.get('out_bin', []), '[': m.get('in_bin', [])}
        pos = dict.fromkeys(src, 0)
        for op, a, b in re.findall(r'([-+<>=\[\]])(\d+)(?:[/x](\d+))?', m.get('timing', '')):
            dst, a = (out if op in '>]' else inp), int(a)
            if op in '<>':
                dst += src[op][pos[op]:pos[op] + a].encode('utf-8', 'surrogatepass')
                pos[op] += a
            elif op in '[]':
                pos['>' if op == ']' else '<'] += a      # skip the replacement characters
                dst += bytes(src[op][pos[op]:pos[op] + int(b)])
                pos[op] += int(b)
    return bytes(out), bytes(inp)


def decode_ttyrec(data, frames_max=None):
    """Concatenated ttyrec frame payloads, or None if data is not ttyrec."""
    pos, frames = 0, []
    while pos + 12 <= len(data) and (frames_max is None or len(frames) < frames_max):
        _, usec, n = struct.unpack_from('<III', data, pos)
        if usec >= 10**6 or pos + 12 + n > len(data):
            return None
        frames.append(data[pos + 12:pos + 12 + n])
        pos += 12 + n
    return b''.join(frames) if frames and (frames_max or pos == len(data)) else None


def find_rec(out):
    """The recording: {out} itself, else the first {out}* (a recorder may add a suffix)."""
    if os.path.isfile(out):
        return out
    c = [p for p in sorted(glob.glob(glob.escape(out) + '*')) if not p.endswith(('.tm', '.in'))]
    return c[0] if c else None


def decode(path):
    """(format, output bytes, input bytes or None) of a recording."""
    data, comp = load(path)
    fmt, out, inp = 'raw', data, None
    head = None
    if data.startswith(b'{'):
        lines = data.split(b'\n')
        try:
            head = json.loads(lines[0])
        except ValueError:      # a ttyrec whose first timestamp byte happens to be '{'
            head = None
    if head is not None:
        if 'timing' in head:
            fmt, (out, inp) = 'tlog-json', decode_tlog(lines)
        elif head.get('version') == 1:
            fmt, out = 'asciicast-v1', ''.join(e[1] for e in json.loads(data)['stdout']).encode()
        elif 'version' in head:
            fmt, ev = f"asciicast-v{head['version']}", {'o': [], 'i': []}
            for line in lines[1:]:
                if line.strip() and not line.startswith(b'#'):
                    e = json.loads(line)
                    ev.get(e[1], []).append(e[2])
            out = ''.join(ev['o']).encode('utf-8', 'surrogatepass')
            inp = ''.join(ev['i']).encode('utf-8', 'surrogatepass') if ev['i'] else None
    elif data.startswith(b'Script started on'):
        fmt = 'script'
    elif decode_ttyrec(data, 8) is not None:
        fmt, out = 'ttyrec', decode_ttyrec(data)
    if inp is None and os.path.isfile(path + '.in'):       # script -I
        inp = load(path + '.in')[0]
    return fmt + ('+compressed' if comp else ''), out, inp


def preview(path, n=2, width=150):
    """First lines (text formats) or first bytes (binary) of a recording."""
    with open(path, 'rb') as f:
        head = f.read(4096)
    if b'\0' in head[:64] or not head[:1].isascii():
        return [repr(head[:48])]
    return [l[:width].decode('utf-8', 'replace') for l in head.split(b'\n')[:n]]


def zstd_mb(paths):
    if not shutil.which('zstd'):
        return None
    total = 0
    for p in paths:
        with subprocess.Popen(['zstd', '-3', '-q', '-c', p], stdout=subprocess.PIPE) as z:
            while chunk := z.stdout.read(1 << 20):
                total += len(chunk)
    return total / 1e6


# ------------------------------------------------------------------ workloads
def make_corpus(path, size, seed=1):
    """Deterministic terminal output: coloured log lines, ls-style listings,
    box-drawing tables, JSON, stack traces, with UTF-8 sprinkled in."""
    rnd = random.Random(seed)
    W = ('request handler worker cache upstream latency retry session token backend queue shard '
         'replica commit rollback socket timeout payload checksum config deploy node pod user auth').split()
    U = ['é', 'ü', 'ß', 'ñ', '→', '✓', '✗', '…', '—', '日本語', 'Привет', '€', '°C', '🚀', 'ö']
    LV = [('INFO', '32'), ('WARN', '33'), ('ERROR', '1;31'), ('DEBUG', '2'), ('TRACE', '36')]
    ri, ch = rnd.randint, rnd.choice

    def words(k):
        return ' '.join(ch(W) if rnd.random() > .08 else ch(U) for _ in range(k))

    def line():
        r = rnd.random()
        if r < .55:
            lv, c = ch(LV)
            return (f'2024-05-{ri(1, 28):02d}T{ri(0, 23):02d}:{ri(0, 59):02d}:{ri(0, 59):02d}.{ri(0, 999):03d}Z '
                    f'\x1b[{c}m{lv:5}\x1b[0m \x1b[35m{ch(W)}::{ch(W)}\x1b[0m {words(ri(3, 14))} '
                    f'id={rnd.getrandbits(32):08x} t={rnd.random() * 900:.1f}ms')
        if r < .70:
            return '  '.join(f'\x1b[{ch(["01;34", "01;32", "0", "01;36"])}m{ch(W)}'
                             f'{ch(["", ".rs", ".log", ".tar.gz", "/"])}\x1b[0m' for _ in range(ri(2, 7)))
        if r < .80:
            return ('│ ' + ' │ '.join(f'{ch(W):<12}' for _ in range(4)) + f' │ {ri(0, 99):3d}% '
                    + '█' * ri(0, 20) + '░' * ri(0, 10))
        if r < .90:
            return json.dumps({'ts': rnd.random() * 1e9, 'level': ch(LV)[0], 'msg': words(8),
                               'tags': [ch(W) for _ in range(3)]}, ensure_ascii=False)
        if r < .97:
            return f'    at {ch(W)}.{ch(W)}({ch(W).title()}.java:{ri(1, 999)})'
        return ''

    pool, written = [line() for _ in range(20000)], 0
    with open(path + '.tmp', 'wb') as f:
        while written < size:
            chunk = ('\n'.join(rnd.choices(pool, k=4000)) + '\n').encode()
            if written + len(chunk) > size:                 # end on a line boundary
                chunk = chunk[:chunk.rfind(b'\n', 0, size - written) + 1]
                size = written + len(chunk)
            f.write(chunk)
            written += len(chunk)
    os.rename(path + '.tmp', path)


def session_plan(steps, speedup, seed=7):
    """[(command, [(key, delay before key), ...]), ...]; the last step exits."""
    rnd = random.Random(seed)
    key = lambda mu, s: rnd.lognormvariate(math.log(mu), s) / speedup   # human seconds / speedup
    pool = ['ls /usr/bin | head -n 40', 'pwd', 'cd /tmp', 'cd ~', 'printf "%s\\n" alpha beta gamma',
            'for i in 1 2 3 4 5; do echo "row $i → ✓"; done', 'echo $((6*7))', 'true',
            'ls -la /etc | tail -n 15', 'cat /etc/os-release', 'wc -c /etc/passwd', 'uname -s',
            'echo "ünïcödé ✓ 日本語"', 'type ls', 'date -u +%Y']
    plan = []
    for i in range(steps - 1):
        cmd = ('seq 1 100000' if i % 20 == 10 else f'echo MARK_{i} $((40+{i}))' if i % 3 == 0
               else pool[i % len(pool)])
        keys = []
        for j, c in enumerate(cmd):
            if i % 7 == 3 and j == len(cmd) // 2:           # a typo, then backspace
                keys += [(b'x', key(.12, .35)), (b'\x7f', key(.25, .3))]
            keys.append((c.encode(), key(.8, .5) if j == 0 else key(.12, .35)))   # think, then type
        plan.append((cmd, keys + [(b'\r', key(.15, .3))]))
    return plan + [('exit', [(c.encode(), .1 / speedup) for c in 'exit\r'])]


# ------------------------------------------------------------------ tests
class Bench:
    def __init__(self, a):
        self.a, self.work, self.seq = a, os.path.abspath(a.workdir), 0
        self.runs = os.path.join(self.work, 'runs', time.strftime('%Y%m%d-%H%M%S'))
        os.makedirs(os.path.join(self.work, 'home'), exist_ok=True)
        user = os.environ.get('USER', 'root')
        self.env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'TERM': 'xterm-256color',
                    'HOME': os.path.join(self.work, 'home'), 'LANG': 'C.UTF-8', 'LC_ALL': 'C.UTF-8',
                    'SHELL': '/bin/bash', 'USER': user, 'LOGNAME': user, 'HISTFILE': '/dev/null'}

    def corpus(self):
        if not hasattr(self, 'expected'):
            self.corpus_path = os.path.join(self.work, f'corpus-{self.a.size_mb:g}MB.txt')
            if not os.path.exists(self.corpus_path):
                log(f'generating {self.a.size_mb:g} MB corpus ...')
                make_corpus(self.corpus_path, int(self.a.size_mb * 1e6))
            with open(self.corpus_path, 'rb') as f:
                data = f.read()
            self.size, self.lines, self.expected = len(data), data.count(b'\n'), data.replace(b'\n', b'\r\n')
        return self.corpus_path

    def spawn(self, template, cmd, rdir):
        out, t = os.path.join(rdir, 'rec'), template.replace('"{cmd}"', '{cmd}').replace("'{cmd}'", '{cmd}')
        line = (t.replace('{out}', shlex.quote(out)).replace('{cmd}', shlex.quote(cmd))
                .replace('{shcmd}', shlex.quote('/bin/sh -c ' + shlex.quote(cmd))))
        self.cur = Pty(shlex.split(line), self.env, rdir, SERVICE_CGROUPS.get(self.cur_name))
        return self.cur, out

    def run(self, test, name, template, rnd):
        self.seq, self.cur, self.cur_name = self.seq + 1, None, name
        rdir = os.path.join(self.runs, f'{self.seq:04d}-{test}-{name}-r{rnd}')
        os.makedirs(rdir)
        try:
            r = getattr(self, 't_' + test)(template, rdir)
            r = self.check(r, name, rdir, *r.pop('verify')) if 'verify' in r else r
        except Exception as e:                              # a broken recorder must not stop the run
            r = {'status': f'error: {e!r}', 'check': 'FAIL'}
            if self.cur and self.cur.master >= 0:
                self.cur.finish(0)                          # kill whatever is left of its tree
        r.update(recorder=name, test=test, round=rnd)
        if not self.a.keep:
            shutil.rmtree(rdir, ignore_errors=True)
        return r

    def check(self, r, name, rdir, out, verify):
        """Decode the recording and let verify(output, input) fill in r."""
        path = find_rec(out)
        r['rec_mb'] = sum(os.path.getsize(f) for f in glob.glob(os.path.join(rdir, '*'))) / 1e6
        if path is None:
            r['check'] = 'n/a' if name == BASE else 'NO FILE'
            return r
        r['format'], o, i = decode(path)
        r['preview'] = preview(path)
        r['check'] = verify(o, i)
        r['input'] = '-' if i is None else r.get('input', '-')
        return r

    def t_throughput(self, template, rdir):
        p, out = self.spawn(template, 'cat ' + shlex.quote(self.corpus()), rdir)
        nbytes = nlines = 0
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        while not p.eof and time.perf_counter() - p.t0 < self.a.timeout:
            d = p.read(1.0)
            nbytes, nlines = nbytes + len(d), nlines + d.count(b'\n')
            p.sample()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        r = p.finish(self.a.timeout)
        r.update(mb_s=self.size / 1e6 / r['wall_s'], term_bytes=nbytes, term_lines=nlines,
                 harness_cpu_s=cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime)

        def verify(o, _):
            term = '' if nlines >= self.lines else f' (terminal got {nlines}/{self.lines} lines)'
            at = o.find(self.expected[:256])                # skip any header, then compare exactly
            if at >= 0 and o[at:at + len(self.expected)] == self.expected:
                return 'OK' + term
            return f'LOSSY {o.count(NL)}/{self.lines} lines' + term

        if self.a.zstd and find_rec(out):                   # size after zstd -3, unless compressed
            with open(find_rec(out), 'rb') as f:
                head = f.read(6)
            if not any(head.startswith(m) for m in MAGICS):
                r['zstd_mb'] = zstd_mb(glob.glob(os.path.join(rdir, '*')))
        r['verify'] = (out, verify)
        return r

    def t_latency(self, template, rdir):
        n, warm, gap = self.a.samples, 20, self.a.gap_ms / 1000
        p, out = self.spawn(template, f'stty raw -echo; printf READY; exec dd bs=1 count={n + warm} status=none', rdir)
        buf = b''
        while b'READY' not in buf and not p.eof and time.perf_counter() - p.t0 < 30:
            buf += p.read(0.5)
        if b'READY' not in buf:
            return dict(p.finish(1), status='no READY', check='FAIL')
        start_ms = (time.perf_counter() - p.t0) * 1e3
        time.sleep(0.05)
        while p.read(0):
            pass
        lat, sent = [], bytearray()
        for k in range(n + warm):
            ch = bytes([97 + k % 26])
            t = time.perf_counter_ns()
            p.write(ch)
            sent += ch
            got = b''
            while ch not in got:
                d = p.read(5.0)
                if not d:
                    return dict(p.finish(1), status=f'echo lost at sample {k}', check='FAIL')
                got += d
            if k >= warm:
                lat.append((time.perf_counter_ns() - t) / 1000)
            p.sample()                                      # outside the timed window
            time.sleep(gap)
        r = p.finish(self.a.timeout)
        r.update(p50_us=pct(lat, 50), p99_us=pct(lat, 99), mean_us=statistics.fmean(lat), start_ms=start_ms)
        r['verify'] = (out, lambda o, i: r.update(input='OK' if i and bytes(sent) in i else 'LOSSY')
                       or ('OK' if b'READY' + bytes(sent) in o else 'LOSSY'))
        return r

    def t_session(self, template, rdir):
        plan = session_plan(self.a.steps, self.a.speedup)
        p, out = self.spawn(template, "PS1='[rb]> ' exec bash --norc --noprofile -i", rdir)
        screen = bytearray()

        def wait_for(pred, timeout):
            end = time.perf_counter() + timeout
            while not pred() and not p.eof and time.perf_counter() < end:
                screen.extend(p.read(0.2))
                p.sample()
            return pred()

        if not wait_for(lambda: PROMPT in screen, 30):
            return dict(p.finish(1), status='no prompt', check='FAIL')
        start_ms = (time.perf_counter() - p.t0) * 1e3
        echo, resp, seqt, typed = [], [], [], bytearray()
        for cmdline, keys in plan:
            for key, delay in keys:
                time.sleep(delay)
                mark, t = len(screen), time.perf_counter()
                p.write(key)
                typed += key
                if key != b'\r':
                    wait_for(lambda: len(screen) > mark, 5)
                    echo.append((time.perf_counter() - t) * 1e6)
                elif cmdline != 'exit':
                    if not wait_for(lambda: PROMPT in screen[mark:], 60):
                        return dict(p.finish(1), status=f'no prompt after {cmdline!r}', check='FAIL')
                    (seqt if cmdline.startswith('seq') else resp).append((time.perf_counter() - t) * 1e3)
        wait_for(lambda: False, 10)                         # until EOF
        r = p.finish(self.a.timeout)
        r.update(echo_p50_us=pct(echo, 50), echo_p99_us=pct(echo, 99), cmd_p50_ms=pct(resp, 50), seq_ms=med(seqt),
                 start_ms=start_ms)
        marks = [f'MARK_{c[10:].split()[0]} {40 + int(c[10:].split()[0])}' for c, _ in plan if c.startswith('echo MARK')]
        nseq = sum(c.startswith('seq') for c, _ in plan)

        def verify(o, i):
            r['input'] = 'OK' if i and bytes(typed) in i else 'LOSSY'
            found, seqs = sum(m.encode() in o for m in marks), o.count(b'\n100000\r\n')
            return 'OK' if found == len(marks) and seqs >= nseq else f'LOSSY marks {found}/{len(marks)} seq {seqs}/{nseq}'

        r['verify'] = (out, verify)
        return r


# ------------------------------------------------------------------ reporting
def version_of(exe):
    """Debian package and version of exe, else the first line of `exe --version`."""
    path = shutil.which(exe) or exe
    try:
        for cand in (path, os.path.realpath(path), '/bin/' + os.path.basename(os.path.realpath(path))):
            pkg = subprocess.run(['dpkg-query', '-S', cand], capture_output=True, text=True).stdout.split(':')[0]
            if pkg and ' ' not in pkg:
                v = subprocess.run(['dpkg-query', '-W', '-f', '${Version}', pkg], capture_output=True, text=True)
                return f'{pkg} {v.stdout} (deb)'
    except OSError:
        pass
    try:
        v = subprocess.run([path, '--version'], capture_output=True, text=True, timeout=10)
        return (v.stdout or v.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return '?'


# (header, key, format); key 'k/' = median ratio to the paired baseline, 'k-' = median delta
COLUMNS = {
    'throughput': [('wall s', 'wall_s', '.2f'), ('MB/s', 'mb_s', '.1f'), ('x base', 'wall_s/', '.2f'),
                   ('CPU s', 'cpu_s', '.2f'), ('usr s', 'usr_s', '.2f'), ('+CPU s', 'cpu_s-', '.2f'),
                   ('maxRSS MB', 'maxrss_mb', '.1f'), ('tree RSS MB', 'rss_tree_mb', '.1f'),
                   ('rec MB', 'rec_mb', '.1f'), ('zstd-3 MB', 'zstd_mb', '.1f')],
    'latency': [('p50 us', 'p50_us', '.0f'), ('p99 us', 'p99_us', '.0f'), ('+p50 us', 'p50_us-', '.0f'),
                ('+p99 us', 'p99_us-', '.0f'), ('CPU s', 'cpu_s', '.3f')],
    'session': [('wall s', 'wall_s', '.2f'), ('x base', 'wall_s/', '.3f'), ('start ms', 'start_ms', '.1f'),
                ('+start ms', 'start_ms-', '.1f'), ('echo p50 us', 'echo_p50_us', '.0f'),
                ('+echo p50 us', 'echo_p50_us-', '.0f'), ('+echo p99 us', 'echo_p99_us-', '.0f'),
                ('cmd p50 ms', 'cmd_p50_ms', '.2f'), ('+cmd p50 ms', 'cmd_p50_ms-', '.2f'),
                ('seq 1e5 ms', 'seq_ms', '.0f'), ('CPU s', 'cpu_s', '.3f'), ('maxRSS MB', 'maxrss_mb', '.1f')],
}


def summarize(results, names):
    md = []
    for test, cols in COLUMNS.items():
        runs = [r for r in results if r['test'] == test]
        if runs:
            md += [f'\n### {test}\n', '| recorder | ' + ' | '.join(c[0] for c in cols) + ' | check | input | n |',
                   '|' + '---|' * (len(cols) + 4)]
        for name in names:
            mine, cells = [r for r in runs if r['recorder'] == name], []
            if not mine:
                continue
            for _, key, f in cols:
                k, op = key.rstrip('/-'), key[-1] if key[-1] in '/-' else ''
                if op and name == BASE:
                    v = None
                elif op:
                    v = med([r[k] / r['base'][k] if op == '/' else r[k] - r['base'][k]
                             for r in mine if r.get(k) is not None and r['base'].get(k)])
                else:
                    v = med([r.get(k) for r in mine])
                cells.append('-' if v is None else format(v, f))
            checks = sorted({str(r.get('check', '?')) for r in mine} | {f'exit {r["status"]}' for r in mine
                                                                           if r.get('status') not in (0, None)})
            md.append(f'| {name} | ' + ' | '.join(cells) + f' | {"; ".join(checks)} | '
                      f'{",".join(sorted({r.get("input", "-") for r in mine}))} | {len(mine)} |')
    return '\n'.join(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--recorder', action='append', default=[], metavar="NAME='TEMPLATE'",
                    help="add/replace a recorder, e.g. sessrec='sessrec rec -q --force -o {out} -- /bin/sh -c {cmd}'")
    ap.add_argument('--only', help='comma-separated recorder names (the baseline always runs)')
    ap.add_argument('--no-defaults', action='store_true', help='drop the built-in peer templates')
    ap.add_argument('--tests', default='throughput,latency,session')
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--size-mb', type=float, default=200, help='throughput corpus size, 1e6 bytes')
    ap.add_argument('--samples', type=int, default=2000, help='keystrokes per latency run')
    ap.add_argument('--gap-ms', type=float, default=1.0, help='idle time between latency keystrokes')
    ap.add_argument('--steps', type=int, default=60, help='commands in the session test')
    ap.add_argument('--speedup', type=float, default=40, help='typing-rhythm compression factor')
    ap.add_argument('--timeout', type=float, default=600, help='per-run limit, seconds')
    ap.add_argument('--workdir', default=os.path.join(os.environ.get('TMPDIR', '/tmp'), 'recbench'))
    ap.add_argument('--json', help='write every run plus the environment here')
    ap.add_argument('--markdown', help='write the median tables here')
    ap.add_argument('--no-zstd', dest='zstd', action='store_false', help='skip zstd -3 sizing')
    ap.add_argument('--keep', action='store_true', help='keep recordings under WORKDIR/runs')
    ap.add_argument('--list', action='store_true', help='show recorders, versions and exit')
    ap.add_argument('--service-cgroup', action='append', default=[], metavar='NAME=DIR',
                    help="count cgroup v2 DIR (a recording service's) with recorder NAME's tree")
    a = ap.parse_args()
    for spec in a.service_cgroup:
        name, _, d = spec.partition('=')
        SERVICE_CGROUPS[name.strip()] = d.strip()

    recs = {BASE: DEFAULT_RECORDERS[BASE]} if a.no_defaults else dict(DEFAULT_RECORDERS)
    for spec in a.recorder:
        name, _, tpl = spec.partition('=')
        recs[name.strip()] = tpl.strip()
    if a.only:
        recs = {n: t for n, t in recs.items() if n in set(a.only.split(',')) | {BASE}}
    versions = {}
    for name, tpl in list(recs.items()):
        if shutil.which(shlex.split(tpl)[0]):
            versions[name] = version_of(shlex.split(tpl)[0])
        else:
            log(f'skipping {name}: {shlex.split(tpl)[0]} not found')
            del recs[name]
    if a.list:
        for n, t in recs.items():
            print(f'{n:11} {t}\n{"":11} {versions[n]}')
        return
    bench, results, others, args = Bench(a), [], [n for n in recs if n != BASE], dict(vars(a))
    for rnd in range(1, a.rounds + 1):
        rot = (rnd - 1) % max(1, len(others))
        for test in a.tests.split(','):
            for name in others[rot:] + others[:rot] or [BASE]:  # rotate: nobody always goes first
                base = bench.run(test, BASE, recs[BASE], rnd)   # A B A C ...: paired baseline
                results.append(base)
                if name == BASE:
                    continue
                r = bench.run(test, name, recs[name], rnd)
                r['base'] = {k: v for k, v in base.items() if isinstance(v, (int, float))}
                results.append(r)
                keys = [c[1] for c in COLUMNS[test] if c[1][-1] not in '/-'][:3]
                log(f'r{rnd} {test:10} {name:11} ' + ' '.join(
                    f'{c}={r.get(c) or 0:.4g}/{base.get(c) or 0:.4g}' for c in keys) + f' {r.get("check")} {r["status"]}')
        a.zstd = False                                      # size compressed recordings once
    md = summarize(results, list(recs))
    print(md)
    if a.markdown:
        with open(a.markdown, 'w') as f:
            f.write(md + '\n')
    if a.json:
        env = {'date': time.strftime('%Y-%m-%d %H:%M %Z'), 'host': platform.platform(), 'cpus': os.cpu_count(),
               'python': platform.python_version(), 'templates': recs, 'versions': versions, 'args': args,
               'corpus_bytes': getattr(bench, 'size', None), 'corpus_lines': getattr(bench, 'lines', None)}
        with open(a.json, 'w') as f:
            json.dump({'env': env, 'runs': results}, f, indent=1, default=str)


if __name__ == '__main__':
    main()
