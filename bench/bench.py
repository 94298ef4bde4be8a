#!/usr/bin/env python3
"""Measures cw2mackerel as a daemon, next to the request pattern it replaces, on this machine.

    bench/run [N ...] [--check] [--no-moto] [--no-plugin] [--revise M] [--deadline MINUTES]
              [--no-hostlist | --hostlist-only]

For each N (default 1, 10, 100, 1000, 5000):

1. The daemon against the fast fakes. tests/peers/fake_aws.py (N synthetic distributions,
   every signature verified, --latency 0.03) and tests/peers/fake.py mackerel (--latency 0.15,
   Mackerel's 100 KB body limit), each behind a byte-counting proxy; then
   `target/release/cw2mackerel daemon` with a 60 s interval, JSON logs and a temporary state
   file. The daemon logs one line per cycle ("cycle ok" / "cycle failed"); as each arrives the
   bench reads /proc/<pid>/status (VmHWM: peak RSS so far); CPU comes from sampling
   /proc/<pid>/task/*/schedstat every 20 ms (ns), counted from the cycle's start (the line's
   time minus its elapsed_ms) to its line. Calls (what each fake recorded, by action and
   status), bytes (the proxies' chunks, time-stamped) are summed over that same window, so a
   next cycle that starts at once is never counted in this one. Cycle 1
   is the first cycle (it reads the back-fill, the 10-minute look-back by default); cycle 3 is a
   steady-state cycle. Then SIGTERM (the daemon must exit 0). Cycles start 5 s past each minute,
   so this takes a bit over two minutes per N. Wall time is the cycle's own elapsed_ms.
2. One minute of the plugin pattern (bench/plugin_replay.py) against fresh fakes with the same
   latencies: 6 GetMetricStatistics per distribution and ONE Mackerel post in all, as
   mackerel-agent posts every plugin's values of the minute together. Its CPU and memory are
   Python's, not the Go plugin's: compare calls, bytes and wall time.
3. For N <= 100, the end-to-end check against moto (signatures and IAM policies checked as AWS
   would): one `cw2mackerel run` with the reader's credentials after seeding N distributions
   and their 10 minutes, which must exit 0 and leave exactly the seeded values in the Mackerel
   fake. moto is slow, so its times are moto's more than ours.

4. Once, host mode in a large organization: `cw2mackerel run` with CW2MACKEREL_MODE=host for
   10 distributions while the Mackerel fake lists 13,000 agent hosts of someone else with
   ordinary meta (`fake.py --stranger-hosts`, about 50 MB per full host listing), twice (the
   first run creates the hosts, the second finds them), each under /usr/bin/time: both must
   exit 0 with a peak RSS under 64 MB. `bench/run --hostlist-only` measures this alone and
   replaces only its section of bench/RESULTS.md.

Then the start-up time and the sizes of the binaries and the image. Writes bench/RESULTS.md
with the machine, date, commit, latencies and every budget as PASS or FAIL; with --check,
exits 1 if any budget or check fails.
"""
import argparse
import ctypes
import functools
import importlib.util
import json
import math
import os
import platform
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv/bin/python"
BIN = ROOT / "target/release/cw2mackerel"
SEED = ROOT / "tests/peers/moto_seed.py"
FAKE = ROOT / "tests/peers/fake.py"
FAKE_AWS = ROOT / "tests/peers/fake_aws.py"
MOTO = ROOT / "tests/peers/moto-server"
KEY = "BENCH-KEY"
AKID, SECRET = "AKIDBENCHEXAMPLE", "bench/Secret+Key/EXAMPLE"
MACKEREL_LATENCY, AWS_LATENCY = 0.15, 0.03
DEFAULT_NS = [1, 10, 100, 1000, 5000]
MOTO_MAX = 100
CYCLES = 3
FIRST, STEADY = 1, 3
# The fakes' own modules: fake_aws's model of its data checks what was posted, and the
# proxies below pipe bytes as the fakes' do.
sys.path.insert(0, str(ROOT / "tests/peers"))
import fake  # noqa: E402
import fake_aws  # noqa: E402
import wire  # noqa: E402

METRIC_NAMES = {"Requests": "requests.request", "BytesDownloaded": "transfer.download",
                "BytesUploaded": "transfer.upload", "TotalErrorRate": "error_rate.total_error_rate",
                "4xxErrorRate": "error_rate.4xx_error_rate", "5xxErrorRate": "error_rate.5xx_error_rate"}




class Proxy:
    """Forwards 127.0.0.1:<port> to a target port, counting bytes each way, with the time each
    chunk passed, so that bytes can be summed over a time window (a cycle) without a race
    against the next one."""

    def __init__(self, target):
        self.target, self.events, self.taken = target, [], 0
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._serve, daemon=True).start()

    def between(self, t0, t1):
        out = {"sent": 0, "received": 0}
        with self.lock:
            for t, counter, n in self.events:
                if t0 <= t <= t1:
                    out[counter] += n
        return out

    def take(self):
        """Bytes since the last take."""
        out = {"sent": 0, "received": 0}
        with self.lock:
            for _, counter, n in self.events[self.taken:]:
                out[counter] += n
            self.taken = len(self.events)
        return out

    def _serve(self):
        while True:
            client, _ = self.server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for s in (client, upstream):  # forward each write at once, as a network would
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for src, dst, counter in ((client, upstream, "sent"), (upstream, client, "received")):
                seen = functools.partial(self._count, counter)
                threading.Thread(target=wire.pipe, args=(src, dst, seen), daemon=True).start()

    def _count(self, counter, n):
        with self.lock:
            self.events.append((time.time(), counter, n))


class Peer:
    """A fake from tests/peers, started with a pipe on stdin so that it dies with us."""

    def __init__(self, script, *args):
        self.proc = subprocess.Popen([PY, script, *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.port = json.loads(self.proc.stdout.readline())["port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path):
        return http_json(self.url + path)

    def post(self, path, body=None):
        return http_json(self.url + path, body if body is not None else {})

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def fakes():
    aws = Peer(FAKE_AWS, "--latency", AWS_LATENCY, "--access-key-id", AKID, "--secret-access-key", SECRET,
               "--distributions", 0)
    mk = Peer(FAKE, "mackerel", "--latency", MACKEREL_LATENCY, "--apikey", KEY, "--service", "cdn")
    return aws, mk


def http_json(url, body=None, key=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("X-Api-Key", key)
    return json.loads(urllib.request.urlopen(req, timeout=600).read() or b"null")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------
# the daemon against the fakes

def proc_sample(pid):
    """CPU so far (ns, every live thread's schedstat; dead threads are in the tick counts),
    peak and current RSS (kB)."""
    out = {}
    try:
        ns = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                ns += int(f.read().split()[0])
        out["cpu_ns"] = ns
    except (OSError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    out["cpu_ticks_ns"] = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                out[line.split(":")[0].lower() + "_kb"] = int(line.split()[1])
    return out


def cpu_of(sample):
    # schedstat is exact but misses threads that have ended; ticks are 10 ms coarse but whole.
    ns = sample.get("cpu_ns", 0)
    return ns if ns and abs(ns - sample["cpu_ticks_ns"]) < 50_000_000 else max(ns, sample["cpu_ticks_ns"])


def die_with_parent():
    """In the child: SIGTERM when the bench dies, so that no daemon outlives an interrupted run."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def daemon_cycles(n, opts):
    aws, mk = fakes()
    aws.post("/_fake/state", {"distributions": n, "revise": opts.revise})
    aws_proxy, mk_proxy = Proxy(aws.port), Proxy(mk.port)
    tmp = tempfile.mkdtemp(prefix="cw2m-bench-")
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_ENDPOINT_URL": aws_proxy.url, "AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_REGION": "us-east-1", "MACKEREL_APIBASE": mk_proxy.url, "MACKEREL_APIKEY": KEY,
           "CW2MACKEREL_SERVICE": "cdn", "CW2MACKEREL_LOG_FORMAT": "json", "CW2MACKEREL_INTERVAL": "60s",
           "CW2MACKEREL_STATE_FILE": f"{tmp}/state"}
    lines = queue.Queue()
    other = []
    proc = subprocess.Popen([BIN, "daemon"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent)

    def read():
        for line in proc.stderr:
            lines.put((time.time(), line))
        lines.put((time.time(), None))

    threading.Thread(target=read, daemon=True).start()
    # CPU every 20 ms, so that a cycle's CPU is counted from its start (the line gives its end
    # and elapsed_ms) and what the daemon spends waiting between cycles apart.
    samples, stop = [(time.time(), 0)], threading.Event()

    def sample():
        while not stop.is_set():
            try:
                samples.append((time.time(), cpu_of(proc_sample(proc.pid))))
            except (OSError, IndexError, ValueError):
                return
            stop.wait(0.02)

    threading.Thread(target=sample, daemon=True).start()
    deadline = time.time() + opts.deadline * 60
    cycles, prev_cpu, prev_received, prev_end, exit_code, note = [], 0, {}, None, None, ""
    try:
        while len(cycles) < CYCLES:
            try:
                at, line = lines.get(timeout=max(1, deadline - time.time()))
            except queue.Empty:
                note = f"gave up after {opts.deadline} minutes with {len(cycles)} cycles done"
                break
            if line is None:
                note = f"the daemon exited ({proc.wait()}) after {len(cycles)} cycles"
                break
            try:
                log = json.loads(line)
            except ValueError:
                other.append(line.strip())
                continue
            if log.get("msg") not in ("cycle ok", "cycle failed"):
                other.append(line.strip())
                continue
            sample = proc_sample(proc.pid)
            received = mk.get("/_fake/state?points=0")["received"]
            cpu = cpu_of(sample)
            # Everything is counted over the cycle's own window, [start, line], so that nothing
            # of the next cycle (which may start at once after a long one) is counted in it.
            began = at - (log.get("elapsed_ms") or 0) / 1000 - 0.005
            cpu_before = max([c for t, c in samples if t <= began] or [0])
            cpu_before = min(max(cpu_before, prev_cpu), cpu)
            inside = lambda r: began - 0.05 <= r["time"] <= at
            mk_requests = [r for r in mk.get("/_fake/requests?bodies=0") if inside(r)]
            aws_requests = [r for r in aws.get("/_fake/requests") if inside(r)]
            # Time the fakes took beyond their --latency: Python parsing and building answers.
            own = (sum(r.get("elapsed_ms", 0) for r in mk_requests + aws_requests) / 1000
                   - len(mk_requests) * MACKEREL_LATENCY - len(aws_requests) * AWS_LATENCY)
            statuses, aws_calls, aws_errors = {}, {}, {}
            for r in mk_requests:
                statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
            for r in aws_requests:
                aws_calls[r["action"] or r["path"]] = aws_calls.get(r["action"] or r["path"], 0) + 1
                if r["status"] != 200:
                    aws_errors[str(r["status"])] = aws_errors.get(str(r["status"]), 0) + 1
            cycles.append({
                "cycle": len(cycles) + 1, "msg": log["msg"], "error": log.get("error"), "log": log,
                "elapsed_ms": log.get("elapsed_ms"), "calls_logged": log.get("calls", {}),
                "datapoints": log.get("datapoints"), "posted": log.get("posted"), "skipped": log.get("skipped"),
                "backlog": log.get("backlog"),
                "fakes_s": max(0.0, own), "cpu_ms": (cpu - cpu_before) / 1e6, "idle_cpu_ms": (cpu_before - prev_cpu) / 1e6,
                "idle_s": began - prev_end if prev_end else None, "hwm_kb": sample.get("vmhwm_kb"), "rss_kb": sample.get("vmrss_kb"),
                "mackerel": mk_proxy.between(began - 0.05, at), "aws": aws_proxy.between(began - 0.05, at),
                "mackerel_calls": len(mk_requests), "mackerel_statuses": statuses,
                "mackerel_body_bytes": sum(r.get("body_length", 0) for r in mk_requests),
                "aws_calls": aws_calls, "aws_errors": aws_errors,
                "getmetricdata_queries": sum(r.get("queries", 0) for r in aws_requests),
                "received": {k: v - prev_received.get(k, 0) for k, v in received.items()},
                "at": at,
            })
            prev_cpu, prev_received, prev_end = cpu, received, at
            print(f"  N={n} cycle {len(cycles)}: {log['msg']}, {log.get('elapsed_ms')} ms, "
                  f"Mackerel {len(mk_requests)} calls, AWS {len(aws_requests)} calls",
                  file=sys.stderr, flush=True)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                exit_code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                exit_code = "killed after SIGTERM + 15 s"
        else:
            exit_code = proc.returncode
        aws.stop()
        mk.stop()
    return {"cycles": cycles, "exit": exit_code, "note": note, "other": other[-5:]}


def one_minute_bytes(n):
    """The size of one minute of new points for N distributions, as the compact JSON array the
    Mackerel API takes: the reference of the bytes budget."""
    fake_aws.set_distributions(n)
    minute = int(time.time()) // 60 * 60 - 240
    points = [{"name": f"cloudfront.{fake_aws.World.ids[i]}.{METRIC_NAMES[m]}", "time": minute,
               "value": fake_aws.settled(i, m, minute)} for i in range(n) for m in METRIC_NAMES]
    return len(json.dumps(points, separators=(",", ":")))


# ------------------------------------------------------------------------------------------
# the plugin pattern

def timed(cmd, env):
    """Runs cmd under /usr/bin/time -v: (stdout, stderr, {wall_s, cpu_ms, rss_kb, code})."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-v", *map(str, cmd)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out = {}
    readers = [threading.Thread(target=lambda f=f: out.update({f.fileno(): f.read()})) for f in (proc.stdout, proc.stderr)]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    for r in readers:
        r.join()
    stdout, stderr = out[proc.stdout.fileno()], out[proc.stderr.fileno()]
    report = stderr[stderr.rfind("\tCommand being timed"):]
    rss = int(report.split("Maximum resident set size (kbytes):")[1].split()[0])
    code = int(report.split("Exit status:")[1].split()[0])
    measures = {"wall_s": wall, "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000, "rss_kb": rss, "code": code}
    return stdout, stderr[: len(stderr) - len(report)], measures


def plugin_minute(n, opts):
    aws, mk = fakes()
    try:
        aws.post("/_fake/state", {"distributions": n, "revise": opts.revise})
        fake_aws.set_distributions(n)
        aws_proxy, mk_proxy = Proxy(aws.port), Proxy(mk.port)
        host = http_json(f"{mk.url}/api/v0/hosts", {"name": "agent-host", "meta": {}}, KEY)["id"]
        files = Path(tempfile.mkdtemp(prefix="cw2m-bench-"))
        (files / "ids.json").write_text(json.dumps(fake_aws.World.ids))
        mk.post("/_fake/reset"), aws.post("/_fake/reset"), mk_proxy.take(), aws_proxy.take()
        env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "AWS_ACCESS_KEY_ID": AKID,
               "AWS_SECRET_ACCESS_KEY": SECRET}
        out, err, m = timed([PY, ROOT / "bench/plugin_replay.py", "--aws", aws_proxy.url, "--mackerel", mk_proxy.url,
                             "--apikey", KEY, "--host", host, "--parallel", opts.parallel, files / "ids.json"], env)
        if m["code"] != 0:
            return {"failed": err.strip()[-500:]}
        replay = json.loads(out)
        time.sleep(0.1)
        return dict(m, **replay, mackerel=mk_proxy.take(), aws=aws_proxy.take(),
                    aws_calls_seen=sum(aws.get("/_fake/state")["calls"].values()),
                    mackerel_calls_seen=len(mk.get("/_fake/requests?bodies=0")))
    finally:
        aws.stop()
        mk.stop()


# ------------------------------------------------------------------------------------------
# the end-to-end check against moto

def start_moto():
    port = free_port()
    launcher = ("import os,runpy,sys,threading\n"
                "threading.Thread(target=lambda:(sys.stdin.read(),os._exit(0)),daemon=True).start()\n"
                f"sys.argv=[{str(MOTO)!r},'-H','127.0.0.1','-p','{port}']\n"
                f"runpy.run_path({str(MOTO)!r},run_name='__main__')")
    proc = subprocess.Popen([PY, "-c", launcher], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3"))
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    sys.exit("moto did not start")


def seed(url, *args):
    out = subprocess.run([PY, SEED, "--endpoint", url, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def moto_check(n):
    moto, moto_port = start_moto()
    mk = Peer(FAKE, "mackerel", "--apikey", KEY, "--service", "cdn")
    try:
        aws, mkp = Proxy(moto_port), Proxy(mk.port)
        users = seed(aws.url, "bootstrap")
        admin = ["--access-key-id", users["admin"]["access_key_id"], "--secret-access-key", users["admin"]["secret_access_key"]]
        ids = [d["id"] for d in seed(aws.url, "distributions", *admin, "--count", str(n))]
        # The 10 minutes a run reads: [end - 10m, end) with end = now - 3m on the minute.
        end = (int(time.time()) - 180) // 60 * 60
        for i in range(0, n, 200):
            seed(aws.url, "metrics", *admin, "--ids", ",".join(ids[i:i + 200]), "--start", str(end - 600), "--minutes", "13")
        aws.take(), mkp.take()
        env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_ENDPOINT_URL": aws.url, "AWS_ACCESS_KEY_ID": users["reader"]["access_key_id"],
               "AWS_SECRET_ACCESS_KEY": users["reader"]["secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1",
               "MACKEREL_APIBASE": mkp.url, "MACKEREL_APIKEY": KEY, "CW2MACKEREL_SERVICE": "cdn",
               "CW2MACKEREL_LOG_FORMAT": "json", "CW2MACKEREL_TIMEOUT": "10m"}
        _, stderr, m = timed([BIN, "run"], env)
        time.sleep(0.1)
        lines = [json.loads(l) for l in stderr.strip().splitlines() if l.startswith("{")]
        summary = lines[-1] if lines else {}
        held = mk.get("/_fake/state")["points"].get("cdn", {})
        spec = importlib.util.spec_from_file_location("moto_seed", SEED)
        moto_seed = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(moto_seed)
        seeded = moto_seed.DEFAULT_METRICS
        want = {f"cloudfront.{d}.{METRIC_NAMES[k]}": v for d in ids for k, v in seeded.items()}
        got_points = sum(len(v) for v in held.values())
        right = (set(held) == set(want) and all(len(held[k]) == 10 and set(held[k].values()) == {want[k]} for k in want))
        calls = summary.get("calls", {})
        return dict(m, summary=summary, posted=summary.get("posted"), held=got_points, values_right=right,
                    aws_calls=sum(v for k, v in calls.items() if k != "mackerel"), mackerel_calls=calls.get("mackerel", 0),
                    getmetricdata=calls.get("cloudwatch", 0), mackerel=mkp.take(), aws=aws.take(),
                    ok=m["code"] == 0 and right and got_points == 60 * n,
                    error=None if m["code"] == 0 else stderr.strip()[-300:])
    finally:
        moto.kill()
        mk.stop()


# ------------------------------------------------------------------------------------------
# host mode in a large organization

HOSTLIST_DISTRIBUTIONS, HOSTLIST_STRANGERS, HOSTLIST_RSS_MB = 10, 13_000, 64
HOSTLIST_TITLE = "## Host mode in a large organization"


def hostlist():
    """Two host-mode runs against an organization of HOSTLIST_STRANGERS other agent hosts."""
    _, commit = machine()
    measured = f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit `{commit}`"
    aws, mk = fakes()
    aws.post("/_fake/state", {"distributions": HOSTLIST_DISTRIBUTIONS})
    mk.post("/_fake/state", {"strangers": HOSTLIST_STRANGERS})
    mkp = Proxy(mk.port)
    tmp = tempfile.mkdtemp(prefix="cw2m-bench-")
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_ENDPOINT_URL": aws.url, "AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_REGION": "us-east-1", "MACKEREL_APIBASE": mkp.url, "MACKEREL_APIKEY": KEY,
           "CW2MACKEREL_MODE": "host", "CW2MACKEREL_LOG_FORMAT": "json", "CW2MACKEREL_STATE_FILE": f"{tmp}/state"}
    runs = []
    try:
        for _ in range(2):
            mkp.take()
            _, stderr, m = timed([BIN, "run"], env)
            lines = [json.loads(l) for l in stderr.strip().splitlines() if l.startswith("{")]
            summary = next((l for l in reversed(lines) if l.get("msg", "").startswith("run ")), {})
            runs.append(dict(m, summary=summary, mackerel=mkp.take(),
                             error=None if m["code"] == 0 else stderr.strip()[-300:]))
        listing = sum(len(chunk) for chunk in fake.host_list(HOSTLIST_STRANGERS, []))
    finally:
        aws.stop()
        mk.stop()
    return {"runs": runs, "listing_bytes": listing, "measured": measured}


def hostlist_section(h):
    """The report's section on `hostlist()`, and whether its budget held."""
    lines = [HOSTLIST_TITLE, "",
             f"`cw2mackerel run` in host mode for {HOSTLIST_DISTRIBUTIONS} distributions (fake_aws) in a Mackerel "
             f"organization that also holds {HOSTLIST_STRANGERS:,} agent hosts of someone else with ordinary meta "
             f"(`tests/peers/fake.py --stranger-hosts`): each full `GET /api/v0/hosts` is "
             f"{h['listing_bytes'] / 1e6:.1f} MB. The first run creates the hosts, the second finds them. Latencies as "
             "above; peak RSS and CPU from `/usr/bin/time`. The list is read as it streams and only hosts of ours (or "
             f"with a wanted customIdentifier) are kept. Measured {h['measured']}.", "",
             "| run | result | wall s | CPU ms | peak RSS MB | Mackerel calls | bytes from Mackerel MB | hosts created | points posted |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    ok = True
    for i, r in enumerate(h["runs"], 1):
        s = r["summary"]
        lines.append(f"| {i} | {'ok' if r['code'] == 0 else 'FAILED'} | {r['wall_s']:.2f} | {r['cpu_ms']:,.0f} | "
                     f"{r['rss_kb'] / 1024:.1f} | {s.get('calls', {}).get('mackerel', '?')} | "
                     f"{r['mackerel']['received'] / 1e6:.1f} | {s.get('hosts', {}).get('created', '?')} | "
                     f"{num(s.get('posted'))} |")
        ok = ok and r["code"] == 0 and r["rss_kb"] <= HOSTLIST_RSS_MB * 1024
        if r["error"]:
            lines.append(f"\nRun {i}: {r['error']}\n")
    peak = max(r["rss_kb"] for r in h["runs"]) / 1024
    lines += ["", f"- both runs exit 0, peak RSS {peak:.1f} MB ≤ {HOSTLIST_RSS_MB} MB: {'PASS' if ok else 'FAIL'}"]
    return lines, ok


def splice_hostlist(path, section):
    """RESULTS.md with its host-list section replaced by (or appended as) `section`."""
    text = Path(path).read_text() if Path(path).exists() else "# Benchmark results\n"
    start = text.find(HOSTLIST_TITLE)
    if start < 0:
        return text.rstrip("\n") + "\n\n" + section
    end = text.find("\n## ", start + len(HOSTLIST_TITLE))
    return text[:start] + section + ("" if end < 0 else text[end + 1:])


# ------------------------------------------------------------------------------------------
# start-up, sizes, machine

def startup(cmd, env, runs=20):
    """Median milliseconds from spawning `cmd` to its first connection to `env`'s endpoint."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(c).replace("PORT", str(port)) for c in cmd], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env={k: v.replace("PORT", str(port)) for k, v in env.items()})
        conn, _ = listener.accept()
        times.append((time.perf_counter() - t0) * 1000)
        conn.close()
        proc.kill()
        proc.wait()
    listener.close()
    return statistics.median(times)


def sizes():
    out = {}
    for label, path in [("measured binary (this host)", BIN),
                        ("static x86_64-unknown-linux-musl", ROOT / "target/x86_64-unknown-linux-musl/release/cw2mackerel"),
                        ("static aarch64-unknown-linux-musl", ROOT / "target/aarch64-unknown-linux-musl/release/cw2mackerel")]:
        out[label] = path.stat().st_size if path.exists() else None
    try:
        img = subprocess.run(["podman", "image", "inspect", "cw2mackerel:latest", "--format", "{{.Size}}"],
                             capture_output=True, text=True)
        out["image cw2mackerel:latest"] = int(img.stdout) if img.returncode == 0 else None
    except FileNotFoundError:
        out["image cw2mackerel:latest"] = None
    return out


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} CPUs ({cpu}), {int(mem) // 1024 // 1024} GiB, Linux {platform.release()}, {rustc}, "
            f"load average {os.getloadavg()[0]:.2f} at the start"), commit or "?"


# ------------------------------------------------------------------------------------------
# budgets and the report

def cycle(results, n, k):
    d = results.get(n, {}).get("daemon")
    if not d:
        return None
    return next((c for c in d["cycles"] if c["cycle"] == k), None)


def budgets(results, refs):
    """[(text, True/False/None)]: None is "not measured" and fails nothing."""
    out = []

    def add(n, k, what, value_of, limit, fmt, unit="", limit_text=None):
        c = cycle(results, n, k)
        shown = limit_text or f"{fmt(limit)}{unit}"
        label = {FIRST: "first cycle", STEADY: "steady-state cycle"}[k]
        if n not in results or "daemon" not in results[n]:
            out.append((f"N={n:,}, {label}: {what} ≤ {shown}", None))
            return
        if c is None:
            out.append((f"N={n:,}, {label}: {what} ≤ {shown} (cycle {k} never came: "
                        f"{results[n]['daemon']['note']})", False))
            return
        v = value_of(c)
        ok = v is not None and v <= limit and c["msg"] == "cycle ok"
        extra = "" if c["msg"] == "cycle ok" else f" (cycle failed: {c['error']})"
        out.append((f"N={n:,}, {label}: {what} {fmt(v)}{unit} ≤ {shown}{extra}", ok))

    count = lambda x: f"{x:,}" if x is not None else "?"
    add(1000, STEADY, "Mackerel calls", lambda c: c["mackerel_calls"], 8, count)
    add(1000, STEADY, "CloudFront calls", lambda c: sum(v for a, v in c["aws_calls"].items()
                                                          if a in ("ListDistributions", "ListTagsForResource")), 0, count)
    ref = refs.get(1000) or one_minute_bytes(1000)
    add(1000, STEADY, "bytes to Mackerel", lambda c: c["mackerel"]["sent"], int(1.5 * ref), count, " B",
        f"1.5 × one minute of new points (6,000 points, {ref:,} B as compact JSON) = {int(1.5 * ref):,} B")
    secs = lambda x: f"{x / 1000:.2f}" if x is not None else "?"
    add(1000, STEADY, "wall time", lambda c: c["elapsed_ms"], 5000, secs, " s")
    add(1000, FIRST, "wall time (10-minute look-back)", lambda c: c["elapsed_ms"], 15000, secs, " s")
    mb = lambda x: f"{x / 1024:.1f}" if x is not None else "?"
    for n, limit in ((100, 8), (1000, 20), (5000, 64)):
        add(n, STEADY, "peak RSS after 3 cycles", lambda c: c["hwm_kb"], limit * 1024, mb, " MB")
    add(5000, STEADY, "CPU", lambda c: c["cpu_ms"], 1000, lambda x: f"{x:,.0f}" if x is not None else "?", " ms")
    for n in sorted(k for k in results if isinstance(k, int)):
        for k in (FIRST, STEADY):
            c = cycle(results, n, k)
            if c is not None:
                want = math.ceil(6 * n / 500)
                got = c["aws_calls"].get("GetMetricData", 0)
                label = {FIRST: "first cycle", STEADY: "steady-state cycle"}[k]
                out.append((f"N={n:,}, {label}: GetMetricData calls {got} = ceil({6 * n:,}/500) = {want}", got == want))
        m = results[n].get("moto")
        if m:
            out.append((f"N={n:,}, end to end against moto: exit {m['code']}, {m['held']:,} points held of "
                        f"{60 * n:,}, values {'right' if m['values_right'] else 'WRONG'}", m["ok"]))
        d = results[n].get("daemon")
        if d and d["cycles"]:
            out.append((f"N={n:,}: the daemon exits 0 on SIGTERM (exit {d['exit']})", d["exit"] == 0))
    return out


def num(x):
    return "?" if x is None else f"{x:,}"


def kb(x):
    return f"{x / 1024:,.0f}" if x >= 10240 else f"{x / 1024:,.1f}"


def report(results, refs, started, host, commit, argv, start_ours, start_replay, opts):
    lines = ["# Benchmark results", "",
             f"Measured {started} on {host}, commit `{commit}`"
             + ("" if BIN == ROOT / "target/release/cw2mackerel" else f" (binary `{BIN}`)")
             + f", by `bench/run{' ' + ' '.join(argv) if argv else ''}` "
             "(see `bench/bench.py`).", "",
             f"Latencies: every Mackerel call is answered after {MACKEREL_LATENCY * 1000:.0f} ms and every AWS call after "
             f"{AWS_LATENCY * 1000:.0f} ms (`tests/peers/fake.py --latency`, `tests/peers/fake_aws.py --latency`). The fakes "
             "are strict: fake_aws verifies every SigV4 signature and refuses over 500 queries a call; the Mackerel fake "
             "refuses bodies over 100 KB with 413, as Mackerel does."
             + (f" CloudWatch revises the newest {opts.revise} minutes (`--revise`)." if opts.revise else ""), "",
             "## cw2mackerel daemon", "",
             "`cw2mackerel daemon`, default settings (six metrics, 60 s interval, 10-minute look-back and back-fill, 3-minute "
             "delay). Cycle 1 is the first cycle, cycle 3 the steady state. Calls are what the fakes saw (each with its "
             "status when not all 200); bytes are what went through the proxies, HTTP headers included; CPU is the "
             "daemon's own during the cycle (schedstat); peak RSS is VmHWM after the cycle; wall time is the cycle's "
             "`elapsed_ms`, of which \"fakes' own\" is the time the Python fakes spent beyond their set latency "
             "(parsing, building answers, checking signatures): a real peer's share of that is not ours. \"New\" and \"held\" are points Mackerel did not have yet / already had with the same value.", "",
             "| N | cycle | wall s | fakes' own s | CPU ms | peak RSS MB | Mackerel calls | bytes to Mackerel KB | points posted | new | held | "
             "AWS calls | CloudFront | GetMetricData | bytes from AWS KB | datapoints | skipped |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    notes = []
    for n, r in ((n, r) for n, r in results.items() if isinstance(n, int)):
        d = r.get("daemon")
        if not d:
            continue
        for c in d["cycles"]:
            calls = c["aws_calls"]
            cf = sum(v for a, v in calls.items() if a in ("ListDistributions", "ListTagsForResource"))
            st = c["mackerel_statuses"]
            mcalls = f"{c['mackerel_calls']:,}" + ("" if set(st) <= {"200"} else " (" + ", ".join(
                f"{v} × {k}" for k, v in sorted(st.items())) + ")")
            rec = c["received"]
            wall = f"{c['elapsed_ms'] / 1000:.2f}" if c["elapsed_ms"] is not None else "?"
            lines.append(
                f"| {n:,} | {c['cycle']}{'' if c['msg'] == 'cycle ok' else ' FAILED'} | {wall} | {c['fakes_s']:.2f} | "
                f"{c['cpu_ms']:,.0f} | "
                f"{(c['hwm_kb'] or 0) / 1024:.1f} | {mcalls} | {kb(c['mackerel']['sent'])} | {rec.get('points', 0):,} | "
                f"{rec.get('new', 0):,} | {rec.get('same', 0):,} | {sum(calls.values()):,} | {cf:,} | "
                f"{calls.get('GetMetricData', 0):,} | {kb(c['aws']['received'])} | {num(c['datapoints'])} | "
                f"{'-' if c['skipped'] is None else format(c['skipped'], ',')} |")
            logged = c["calls_logged"]
            if logged.get("mackerel", 0) != c["mackerel_calls"] or sum(v for k, v in logged.items() if k != "mackerel") != sum(calls.values()):
                notes.append(f"N={n:,} cycle {c['cycle']}: the cycle line counted calls {logged}, the fakes saw "
                             f"Mackerel {c['mackerel_calls']} and AWS {calls}.")
            if c["msg"] != "cycle ok":
                notes.append(f"N={n:,} cycle {c['cycle']} failed: {c['error']}")
        idle = [(c["idle_cpu_ms"], c["idle_s"]) for c in d["cycles"] if c.get("idle_s")]
        if idle:
            ms, secs = sum(i for i, _ in idle), sum(s for _, s in idle)
            if secs > 0:
                notes.append(f"N={n:,}: waiting between cycles the daemon used {ms:,.0f} ms of CPU in {secs:,.0f} s "
                             f"({ms / secs * 60:,.1f} ms a minute), not counted in any cycle's CPU.")
        if d["note"]:
            notes.append(f"N={n:,}: {d['note']}.")
        if len(d["cycles"]) < CYCLES and d["other"]:
            notes.append(f"N={n:,}: last other log lines: " + " / ".join(f"`{l[:200]}`" for l in d["other"]))
    if notes:
        lines += [""] + [f"- {x}" for x in notes]

    lines += ["", "## One minute: plugin pattern next to the daemon's steady state", "",
              "The plugin pattern is mackerel-agent running mackerel-plugin-aws-cloudfront per distribution: per minute, "
              "6 GetMetricStatistics per distribution and ONE Mackerel post with every plugin's values "
              f"(`bench/plugin_replay.py`, {opts.parallel} plugin runs at a time, against fresh fakes with the same "
              "latencies). Its CPU and peak RSS are those of one Python process replaying it, not of the agent and its Go "
              "plugins: compare calls, bytes and wall time. One minute of the plugin posts one value per series; a "
              "cw2mackerel cycle posts what Mackerel does not have yet.", "",
              "| N | who | wall s | AWS calls | bytes to AWS KB | bytes from AWS KB | Mackerel calls | bytes to Mackerel KB | "
              "values posted | CPU ms | peak RSS MB |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n, r in results.items():
        c = cycle(results, n, STEADY)
        if c:
            lines.append(f"| {n:,} | cw2mackerel (cycle 3) | {c['elapsed_ms'] / 1000:.2f} | {sum(c['aws_calls'].values()):,} | "
                         f"{kb(c['aws']['sent'])} | {kb(c['aws']['received'])} | {c['mackerel_calls']:,} | "
                         f"{kb(c['mackerel']['sent'])} | {c['received'].get('points', 0):,} | {c['cpu_ms']:,.0f} | "
                         f"{(c['hwm_kb'] or 0) / 1024:.1f} |")
        p = r.get("plugin")
        if p and "failed" in p:
            lines.append(f"| {n:,} | plugin pattern | replay failed: {p['failed'][:200]} |||||||||")
        elif p:
            post = "" if p["post_status"] == 200 else f" (refused: {p['post_status']}, a {kb(p['post_body_bytes'])} KB body)"
            lines.append(f"| {n:,} | plugin pattern | {p['wall_s']:.2f} | {p['aws_calls_seen']:,} | {kb(p['aws']['sent'])} | "
                         f"{kb(p['aws']['received'])} | {p['mackerel_calls_seen']}{post} | {kb(p['mackerel']['sent'])} | "
                         f"{p['datapoints']:,} | {p['cpu_ms']:,.0f} (Python) | {p['rss_kb'] / 1024:.1f} (Python) |")

    moto = {n: r["moto"] for n, r in results.items() if r.get("moto")}
    if moto:
        lines += ["", "## End to end against moto", "",
                  "One `cw2mackerel run` against moto (signatures and IAM policies checked as AWS would, the reader's "
                  "least-privilege credentials) and the Mackerel fake without added latency, after seeding N distributions "
                  "and the 10 minutes a run reads. It must exit 0 and leave exactly the seeded values. Wall time is mostly "
                  "moto's; CPU and peak RSS are ours (`/usr/bin/time`).", "",
                  "| N | result | wall s | CPU ms | peak RSS MB | AWS calls | GetMetricData | Mackerel calls | "
                  "bytes to Mackerel KB | points posted | points held |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for n, m in moto.items():
            lines.append(f"| {n:,} | {'ok' if m['ok'] else 'FAILED'} | {m['wall_s']:.2f} | {m['cpu_ms']:.0f} | "
                         f"{m['rss_kb'] / 1024:.1f} | {m['aws_calls']} | {m['getmetricdata']} | {m['mackerel_calls']} | "
                         f"{kb(m['mackerel']['sent'])} | {num(m['posted'])} | {m['held']:,} |")
            if m["error"]:
                lines.append(f"\nN={n}: {m['error']}\n")

    checks = budgets(results, refs)
    lines += ["", "## Budgets", "",
              "From the issue \"Post each datapoint once\" (N=1,000 and N=5,000, six metrics, one-minute cycles; the "
              "steady state is a daemon's third cycle, between discovery refreshes), then the checks every run keeps.", ""]
    for text, ok in checks:
        lines.append(f"- {text}: {'PASS' if ok else 'FAIL' if ok is False else 'not measured'}")
    hostlist_failed = False
    if results.get("hostlist"):
        section, ok = hostlist_section(results["hostlist"])
        lines += [""] + section
        hostlist_failed = not ok
    lines += ["", "## Start-up and sizes", "",
              f"From spawning the process to its first connection (median of 20): cw2mackerel {start_ours:.1f} ms; "
              f"Python + boto3 {start_replay:.1f} ms.", ""]
    for label, size in sizes().items():
        lines.append(f"- {label}: " + (f"{size:,} bytes" if size else "not built (`make static`, `make image`)"))
    return "\n".join(lines) + "\n", any(ok is False for _, ok in checks) or hostlist_failed


def main():
    global BIN
    p = argparse.ArgumentParser(description="bench/run [N ...] [--check]")
    p.add_argument("ns", nargs="*", type=int, help=f"numbers of distributions (default {DEFAULT_NS})")
    p.add_argument("--check", action="store_true", help="exit 1 if a budget or check fails")
    p.add_argument("--no-moto", action="store_true", help="skip the end-to-end runs against moto")
    p.add_argument("--no-plugin", action="store_true", help="skip the plugin-pattern replay")
    p.add_argument("--revise", type=int, default=0, help="fake_aws --revise: the newest MINUTES are not settled")
    p.add_argument("--parallel", type=int, default=64, help="plugin runs at a time in the replay")
    p.add_argument("--deadline", type=float, default=40, help="minutes to wait for the daemon's 3 cycles, per N")
    p.add_argument("--output", default=str(ROOT / "bench/RESULTS.md"))
    p.add_argument("--bin", default=str(BIN), help="the cw2mackerel binary to measure")
    p.add_argument("--no-hostlist", action="store_true", help="skip host mode in a large organization")
    p.add_argument("--hostlist-only", action="store_true",
                   help="measure host mode in a large organization alone; replace only its section of --output")
    opts = p.parse_args()
    BIN = Path(opts.bin).resolve()
    if opts.hostlist_only:
        section, ok = hostlist_section(hostlist())
        text = splice_hostlist(opts.output, "\n".join(section) + "\n")
        Path(opts.output).write_text(text)
        print("\n".join(section))
        sys.exit(1 if opts.check and not ok else 0)
    ns = opts.ns or DEFAULT_NS
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    host, commit = machine()
    results, refs = {}, {}
    for n in ns:
        results[n] = {}
        refs[n] = one_minute_bytes(n)
        print(f"N={n}: daemon against the fakes (3 cycles, about 2-3 minutes) ...", file=sys.stderr, flush=True)
        results[n]["daemon"] = daemon_cycles(n, opts)
        if not opts.no_plugin:
            print(f"N={n}: plugin pattern ...", file=sys.stderr, flush=True)
            results[n]["plugin"] = plugin_minute(n, opts)
        if not opts.no_moto and n <= MOTO_MAX:
            print(f"N={n}: end to end against moto ...", file=sys.stderr, flush=True)
            results[n]["moto"] = moto_check(n)
    if not opts.no_hostlist:
        print("host mode in a large organization ...", file=sys.stderr, flush=True)
        results["hostlist"] = hostlist()
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:PORT", "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S",
           "AWS_EC2_METADATA_DISABLED": "true", "MACKEREL_APIKEY": "k", "CW2MACKEREL_SERVICE": "cdn",
           "HOME": "/nonexistent", "PATH": os.environ["PATH"]}
    start_ours = startup([BIN, "run"], env)
    start_replay = startup([PY, "-c", "import boto3,os;boto3.client('cloudwatch',endpoint_url=os.environ['AWS_ENDPOINT_URL'],"
                            "region_name='us-east-1').list_metrics()"], env)
    text, failed = report(results, refs, started, host, commit, sys.argv[1:], start_ours, start_replay, opts)
    Path(opts.output).write_text(text)
    print(text)
    sys.exit(1 if opts.check and failed else 0)


if __name__ == "__main__":
    main()
