#!/usr/bin/env python3
"""`make demo`: cw2mackerel's daemon at work, with no AWS or Mackerel account.

    python3 tests/peers/demo.py [--bin PATH] [--env NAME=VALUE ...]

Starts moto (through tests/peers/moto-server, every signature checked) with three CloudFront
distributions, two of them with 15 minutes of traffic, and the Mackerel stand-in
(tests/peers/fake.py mackerel, service `cdn`); runs `cw2mackerel daemon` with the default
interval, look-back and delay and CW2MACKEREL_LABEL=alias until it has logged two cycles; then
prints what Mackerel received, metric by metric and cycle by cycle. The first cycle posts the
10-minute look-back; the second, 5 s past the next minute, only the minute that settled since.
It takes about a minute. `--env` adds a variable to the daemon's environment
(`--env CW2MACKEREL_MODE=host` shows host mode). Everything listens on 127.0.0.1 and stops
when the demo ends, on Ctrl-C too. Run it with the Python of the project's .venv (moto,
boto3). Exits 1 if a cycle failed or Mackerel received nothing.
"""
import argparse
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KEY = "DEMO-KEY-not-a-secret"
SERVICE = "cdn"
# Two cycles: the first at once, the second 5 s past the next minute (the default interval).
CYCLE_WAIT_S = 150
# Each distribution's traffic: per-minute counts (each minute adds the minute's index, so
# the values move) and error rates (steady).
TRAFFIC = [
    ({"Requests": 1200, "BytesDownloaded": 5.2e6, "BytesUploaded": 3.1e4},
     {"TotalErrorRate": 1.5, "4xxErrorRate": 1.2, "5xxErrorRate": 0.3}),
    ({"Requests": 80, "BytesDownloaded": 4.0e5, "BytesUploaded": 2.0e3},
     {"TotalErrorRate": 0.0, "4xxErrorRate": 0.0, "5xxErrorRate": 0.0}),
]


class Stop(Exception):
    """SIGTERM: end as Ctrl-C does, stopping what was started."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


class Demo:
    def __init__(self):
        self.children = []
        self.tmp = Path(tempfile.mkdtemp(prefix="cw2mackerel-demo-"))

    def spawn(self, args, **kw):
        # A session of its own: Ctrl-C reaches the demo alone, which then stops each child.
        p = subprocess.Popen(args, start_new_session=True, **kw)
        self.children.append(p)
        return p

    def stop(self):
        for p in reversed(self.children):
            if p.poll() is None:
                p.terminate()
        for p in self.children:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def moto(self):
        port = free_port()
        # moto exits when the demo's pipe to it closes, even if the demo is killed outright.
        launcher = ("import os,runpy,sys,threading\n"
                    "threading.Thread(target=lambda:(sys.stdin.read(),os._exit(0)),daemon=True).start()\n"
                    f"sys.argv=['moto-server','-H','127.0.0.1','-p','{port}']\n"
                    f"runpy.run_path({str(HERE / 'moto-server')!r},run_name='__main__')")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        p = self.spawn([sys.executable, "-c", launcher], env=env, stdin=subprocess.PIPE,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                if p.poll() is not None or time.time() > deadline:
                    sys.exit("moto did not start: is this the Python of the project's .venv (make venv)?")
                time.sleep(0.1)

    def mackerel(self):
        p = self.spawn([sys.executable, str(HERE / "fake.py"), "mackerel", "--apikey", KEY,
                        "--service", SERVICE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return f"http://127.0.0.1:{json.loads(p.stdout.readline())['port']}"


def seed(endpoint, *args, admin=None):
    cmd = [sys.executable, str(HERE / "moto_seed.py"), "--endpoint", endpoint, *args]
    if admin:
        cmd += ["--access-key-id", admin["access_key_id"], "--secret-access-key", admin["secret_access_key"]]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def accepted(mackerel):
    """Every point of every tsdb body Mackerel accepted so far, in order."""
    points = []
    for r in get(f"{mackerel}/_fake/requests"):
        if r["path"].endswith("/tsdb") and r["status"] == 200:
            points.extend(json.loads(r["body"]))
    return points


def hhmm(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M")


def number(v):
    return f"{v:,.0f}" if v == int(v) else f"{v:,.2f}"


def table(points, cycle_of, hosts):
    """One row per metric (per host in host mode): points per cycle, minutes, newest value."""
    rows = {}
    for i, p in enumerate(points):
        key = (hosts.get(p.get("hostId"), p.get("hostId", "")), p["name"])
        row = rows.setdefault(key, {"cycles": [0, 0], "times": {}})
        row["cycles"][cycle_of(i)] += 1
        row["times"][p["time"]] = p["value"]
    host_mode = any(h for h, _ in rows)
    head = (["host"] if host_mode else []) + ["metric", "cycle 1", "cycle 2", "minutes (UTC)", "newest"]
    lines = []
    for (host, name), row in sorted(rows.items()):
        times = sorted(row["times"])
        lines.append(([host] if host_mode else []) + [
            name, str(row["cycles"][0]), str(row["cycles"][1]),
            f"{hhmm(times[0])}-{hhmm(times[-1])}", number(row["times"][times[-1]])])
    widths = [max(len(r[i]) for r in [head] + lines) for i in range(len(head))]
    numeric = {len(head) - 4, len(head) - 3, len(head) - 1}
    for r in [head] + lines:
        print("  " + "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
    return len(rows)


def on_term(*_):
    raise Stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default=str(ROOT / "target/release/cw2mackerel"), help="the cw2mackerel to run")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="a variable for the daemon (e.g. CW2MACKEREL_MODE=host)")
    a = p.parse_args()
    if not Path(a.bin).is_file():
        sys.exit(f"{a.bin} is missing: run `make` (or `make demo`, which does)")
    signal.signal(signal.SIGTERM, on_term)
    demo = Demo()
    try:
        return run(demo, a)
    except (KeyboardInterrupt, Stop):
        print("\nstopped; everything the demo started is stopped too", file=sys.stderr)
        return 130
    finally:
        demo.stop()


def run(demo, a):
    print("Starting moto (AWS) and the Mackerel stand-in on 127.0.0.1 ...", flush=True)
    moto, mackerel = demo.moto(), demo.mackerel()
    users = seed(moto, "bootstrap")
    dists = seed(moto, "distributions", "--count", "3", "--alias", "www.example.com", admin=users["admin"])
    start = (int(time.time()) // 60 - 15) * 60
    for d, (counts, rates) in zip(dists, TRAFFIC):
        for values, growing in ((counts, ["--value-from-minute"]), (rates, [])):
            seed(moto, "metrics", "--ids", d["id"], "--start", str(start), "--minutes", "15", *growing,
                 *[f"--metric={k}={v}" for k, v in values.items()], admin=users["admin"])
    print("Seeded three CloudFront distributions; the first two have traffic from "
          f"{hhmm(start)} to {hhmm(start + 14 * 60)} UTC, the third none:")
    for d, traffic in zip(dists, TRAFFIC + [None]):
        what = f"about {traffic[0]['Requests']:,} requests a minute" if traffic else "no traffic"
        print(f"  {d['id']}  {d['aliases'][0]:<18} {what}")

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(demo.tmp),
        "AWS_ENDPOINT_URL": moto,
        "AWS_ACCESS_KEY_ID": users["reader"]["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": users["reader"]["secret_access_key"],
        "AWS_EC2_METADATA_DISABLED": "true",
        "MACKEREL_APIBASE": mackerel,
        "MACKEREL_APIKEY": KEY,
        "CW2MACKEREL_SERVICE": SERVICE,
        "CW2MACKEREL_LABEL": "alias",
        "CW2MACKEREL_STATE_FILE": str(demo.tmp / "state"),
    }
    env.update(kv.split("=", 1) for kv in a.env)
    # The second cycle must come in a later minute than the first: the daemon's ticks are 5 s
    # past each minute, so the first cycle does not start in those 5 s.
    while time.time() % 60 < 6:
        time.sleep(0.2)
    shown = " ".join(f"{k}={v}" for k, v in env.items()
                     if k in ("AWS_ENDPOINT_URL", "MACKEREL_APIBASE") or k.startswith("CW2MACKEREL_")
                     and k != "CW2MACKEREL_STATE_FILE")
    print(f"\n$ {shown} cw2mackerel daemon\n"
          "  (two cycles: one now, one 5 s past the next minute; the lines below are its log)", flush=True)
    daemon = demo.spawn([a.bin, "daemon"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in daemon.stderr] + [lines.put(None)], daemon=True).start()
    cycles, after_cycle, failed = [], [], False
    deadline = time.time() + CYCLE_WAIT_S
    while len(cycles) < 2 and time.time() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        print("  " + line.rstrip(), flush=True)
        m = re.search(r"\bcycle (ok|failed)\b", line)
        if m:
            cycles.append(line)
            failed |= m.group(1) == "failed"
            after_cycle.append(len(accepted(mackerel)))
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=15)
    if len(cycles) < 2:
        print(f"the daemon logged {len(cycles)} cycle(s) in {CYCLE_WAIT_S} s (exit {daemon.returncode})")
        return 1

    points = accepted(mackerel)
    state = get(f"{mackerel}/_fake/state")
    hosts = {h["id"]: h.get("displayName") or h["name"] for h in state["hosts"]}
    n_cycle1 = after_cycle[0]
    print(f"\nWhat Mackerel received: {len(points)} points "
          f"({n_cycle1} in the first cycle, {len(points) - n_cycle1} in the second):\n")
    metrics = table(points, lambda i: 0 if i < n_cycle1 else 1, hosts)
    print(f"\n{metrics} metrics. The first cycle posted the 10-minute look-back, its newest minute 3\n"
          "minutes old (CloudWatch still revises younger ones); the second cycle posted only the\n"
          "minute that settled since. The distribution without traffic gets 0 requests and bytes,\n"
          "and no error rates: cw2mackerel never invents a rate.")
    return 1 if failed or not points else 0


if __name__ == "__main__":
    sys.exit(main())
