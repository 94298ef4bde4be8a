#!/usr/bin/env python3
"""Measures cw2mackerel next to the request pattern it replaces, on this machine.

For each N (default 1, 10, 100, 1000), on a fresh moto (signature checks on) and a fresh
strict Mackerel fake, both on 127.0.0.1 behind byte-counting proxies:
  1. seeds N CloudFront distributions with the six default metrics for the 10 minutes one run
     reads (not measured);
  2. measures one minute of the plugin pattern (bench/plugin_replay.py), then one
     `target/release/cw2mackerel run`: wall time, user+sys CPU, peak RSS (from
     /usr/bin/time -v); AWS calls (its summary line), Mackerel calls (its summary line),
     bytes sent and received through the proxies, datapoints posted.
Then startup (exec to the first connection accepted, median of 20) and the sizes of the
binaries and the image. Writes bench/RESULTS.md; with --check exits 1 if a budget is missed.

moto's GetMetricData is slow (seconds per 500 queries once thousands of datums are stored):
wall time at large N is mostly moto's, so CPU time (ours alone) is the number to compare.
"""
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv/bin/python"
BIN = ROOT / "target/release/cw2mackerel"
SEED = ROOT / "tests/peers/moto_seed.py"
FAKE = ROOT / "tests/peers/fake.py"
MOTO = ROOT.parent / "shared/peers/moto-server"
KEY = "BENCH-KEY"
BUDGETS = {100: {"rss_kb": 8 * 1024, "cpu_ms": 50, "getmetricdata": 2}, 1000: {"rss_kb": 20 * 1024}}


class Proxy:
    """Forwards 127.0.0.1:<port> to a target port, counting bytes each way."""

    def __init__(self, target):
        self.target, self.sent, self.received, self.connections = target, 0, 0, 0
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def reset(self):
        with self.lock:
            self.sent = self.received = self.connections = 0

    def _serve(self):
        while True:
            client, _ = self.server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._pipe, args=(client, upstream, "sent"), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, "received"), daemon=True).start()

    def _pipe(self, src, dst, counter):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                with self.lock:
                    setattr(self, counter, getattr(self, counter) + len(data))
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def start_fake():
    proc = subprocess.Popen([PY, FAKE, "mackerel", "--apikey", KEY, "--service", "cdn"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    return proc, json.loads(proc.stdout.readline())["port"]


def seed(url, *args):
    out = subprocess.run([PY, SEED, "--endpoint", url, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def http_json(url, body=None, key=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("X-Api-Key", key)
    return json.loads(urllib.request.urlopen(req).read() or b"null")


def timed(cmd, env):
    """Runs cmd under /usr/bin/time -v and returns (stdout, stderr, measures). Peak RSS is the
    one /usr/bin/time reports (measuring from Python would count the forked interpreter);
    CPU is the wait4 rusage of /usr/bin/time, i.e. the command plus time's own well under a
    millisecond, at microsecond resolution where time prints hundredths."""
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


def measure(n):
    moto, moto_port = start_moto()
    fake, fake_port = start_fake()
    try:
        aws, mk = Proxy(moto_port), Proxy(fake_port)
        aws_url, mk_url = f"http://127.0.0.1:{aws.port}", f"http://127.0.0.1:{mk.port}"
        users = seed(aws_url, "bootstrap")
        admin = ["--access-key-id", users["admin"]["access_key_id"], "--secret-access-key", users["admin"]["secret_access_key"]]
        ids = [d["id"] for d in seed(aws_url, "distributions", *admin, "--count", str(n))]
        # The 10 minutes a run reads, [end - 10m, end) with end = now - 3m on the minute, and the
        # 3 newest, which the plugin pattern asks for.
        end = (int(time.time()) - 180) // 60 * 60
        for i in range(0, n, 200):
            seed(aws_url, "metrics", *admin, "--ids", ",".join(ids[i:i + 200]), "--start", str(end - 600), "--minutes", "13")
        env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_ENDPOINT_URL": aws_url, "AWS_ACCESS_KEY_ID": users["reader"]["access_key_id"],
               "AWS_SECRET_ACCESS_KEY": users["reader"]["secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1"}
        rows = {}

        # The agent registers one host per distribution once; that is not part of a minute.
        hosts = {d: http_json(f"{mk_url}/api/v0/hosts", {"name": d, "meta": {}}, KEY)["id"] for d in ids}
        files = Path(f"/tmp/cw2m-bench-{os.getpid()}")
        files.mkdir(exist_ok=True)
        (files / "ids.json").write_text(json.dumps(ids))
        (files / "hosts.json").write_text(json.dumps(hosts))
        aws.reset(), mk.reset()
        out, err, m = timed([PY, ROOT / "bench/plugin_replay.py", "--aws", aws_url, "--mackerel", mk_url, "--apikey", KEY,
                             "--hosts", files / "hosts.json", files / "ids.json"],
                            # The plugin needs cloudwatch:GetMetricStatistics, which the reader lacks.
                            dict(env, AWS_ACCESS_KEY_ID=users["admin"]["access_key_id"],
                                 AWS_SECRET_ACCESS_KEY=users["admin"]["secret_access_key"]))
        if m["code"] != 0:
            sys.exit(f"the plugin replay failed at N={n}: {err}")
        replay = json.loads(out)
        rows["plugin pattern"] = dict(m, aws_calls=replay["aws_calls"], getmetricdata=0,
                                      mackerel_calls=replay["mackerel_calls"], sent=aws.sent + mk.sent,
                                      received=aws.received + mk.received, datapoints=replay["datapoints"])
        aws.reset(), mk.reset()
        # moto takes more than the default 30 s for 500 queries over 60,000 stored datums.
        run_env = dict(env, MACKEREL_APIBASE=mk_url, MACKEREL_APIKEY=KEY, CW2MACKEREL_SERVICE="cdn",
                       CW2MACKEREL_LOG_FORMAT="json", CW2MACKEREL_TIMEOUT="10m")
        _, stderr, m = timed([BIN, "run"], run_env)
        if m["code"] != 0:
            sys.exit(f"cw2mackerel failed at N={n}: {stderr}")
        summary = json.loads(stderr.strip().splitlines()[-1])
        calls = summary["calls"]
        rows["cw2mackerel"] = dict(m, aws_calls=sum(v for k, v in calls.items() if k != "mackerel"),
                                   getmetricdata=calls.get("cloudwatch", 0), mackerel_calls=calls.get("mackerel", 0),
                                   sent=aws.sent + mk.sent, received=aws.received + mk.received,
                                   datapoints=summary["posted"])

        return rows
    finally:
        for p in (moto, fake):
            p.kill()


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
    for label, path in [("release binary (this host)", BIN),
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
    return (f"{os.cpu_count()} CPUs ({cpu}), {int(mem) // 1024 // 1024} GiB, Linux {platform.release()}, "
            f"{rustc}, commit {commit or '?'}, load average {os.getloadavg()[0]:.2f} at the start")


def main():
    check = "--check" in sys.argv
    ns = [int(a) for a in sys.argv[1:] if a != "--check"] or [1, 10, 100, 1000]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    host = machine()
    results = {}
    for n in ns:
        print(f"N={n} ...", file=sys.stderr, flush=True)
        results[n] = measure(n)
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:PORT", "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S",
           "AWS_EC2_METADATA_DISABLED": "true", "MACKEREL_APIKEY": "k", "CW2MACKEREL_SERVICE": "cdn",
           "HOME": "/nonexistent", "PATH": os.environ["PATH"]}
    start_ours = startup([BIN, "run"], env)
    start_replay = startup([PY, "-c", "import boto3,os;boto3.client('cloudwatch',endpoint_url=os.environ['AWS_ENDPOINT_URL'],"
                            "region_name='us-east-1').list_metrics()"], env)

    lines = [f"# Benchmark results\n", f"Measured {started} on {host}, by `bench/run` (see `bench/bench.py`).\n",
             "One cycle each: one `cw2mackerel run` (reads and posts the 10-minute look-back), and one minute of the",
             "plugin pattern it replaces (6 GetMetricStatistics and 1 post per distribution; `bench/plugin_replay.py`,",
             "Python + botocore, so its CPU and memory are not the Go plugin's: compare calls and bytes there).",
             "Wall time includes moto, which is slow at large N; CPU is the measured process alone.\n",
             "| N | tool | wall s | CPU ms | peak RSS MB | AWS calls | GetMetricData | Mackerel calls | sent KB | received KB | datapoints |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n, rows in results.items():
        for tool in ("cw2mackerel", "plugin pattern"):
            r = rows[tool]
            lines.append(f"| {n} | {tool} | {r['wall_s']:.2f} | {r['cpu_ms']:.0f} | {r['rss_kb'] / 1024:.1f} | {r['aws_calls']} | "
                         f"{r['getmetricdata'] or '-'} | {r['mackerel_calls']} | {r['sent'] / 1024:.0f} | {r['received'] / 1024:.0f} | {r['datapoints']} |")
    lines += ["", "Ratios (plugin pattern ÷ cw2mackerel) for the same minute of operation:", "",
              "| N | AWS calls | Mackerel calls | bytes sent |", "| --- | --- | --- | --- |"]
    for n, rows in results.items():
        ours, theirs = rows["cw2mackerel"], rows["plugin pattern"]
        ratio = lambda k: f"{theirs[k] / ours[k]:.1f}×" if ours[k] else "-"
        lines.append(f"| {n} | {ratio('aws_calls')} | {ratio('mackerel_calls')} | {ratio('sent')} |")
    lines += ["", "## Startup", "",
              f"From spawning the process to its first connection (median of 20): cw2mackerel {start_ours:.1f} ms; "
              f"Python + boto3 {start_replay:.1f} ms.", "", "## Sizes", ""]
    for label, size in sizes().items():
        lines.append(f"- {label}: " + (f"{size:,} bytes" if size else "not built (`make static`, `make image`)"))
    lines += ["", "## Budgets", ""]
    failed = False
    for n, budget in BUDGETS.items():
        if n not in results:
            continue
        ours = results[n]["cw2mackerel"]
        for key, limit in budget.items():
            ok = ours[key] == limit if key == "getmetricdata" else ours[key] < limit
            failed |= not ok
            shown = {"rss_kb": f"peak RSS {ours[key] / 1024:.1f} MB < {limit / 1024:.0f} MB",
                     "cpu_ms": f"CPU {ours[key]:.0f} ms < {limit} ms",
                     "getmetricdata": f"GetMetricData calls {ours[key]} = ceil({6 * n}/500) = {limit}"}[key]
            lines.append(f"- N={n}: {shown}: {'PASS' if ok else 'FAIL'}")
    text = "\n".join(lines) + "\n"
    (ROOT / "bench/RESULTS.md").write_text(text)
    print(text)
    sys.exit(1 if check and failed else 0)


if __name__ == "__main__":
    main()
