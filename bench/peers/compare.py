#!/usr/bin/python3
"""compare.py: the parts of bench/run_bench.sh that need more than a shell.

  compare.py clients  bench_client vs the grpc C++ async client vs h2load,
                      each pinned to one client CPU, against one server
                      pinned to another CPU, same load: req/s and client
                      CPU per call.
  compare.py idle     idle_conns.py against each given server: memory per
                      idle HTTP/2 connection.
  compare.py scaling  bench_server --threads T (unpinned) under h2load -t 2:
                      req/s and server CPU per request.

Each writes OUT/<command>.md and OUT/<command>.json, and every raw output
under OUT/raw/<command>/. Servers run in their own process group and are
stopped (TERM, then KILL) by that group id; nothing else is signalled.
Loopback only.
"""

import argparse
import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK = os.sysconf("SC_CLK_TCK")
RUNNING = []


def log(msg):
    sys.stderr.write("[compare %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def proc_cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Server:
    """A server we start in its own session; argv may hold {port}."""

    def __init__(self, argv, port, cpu, logpath):
        argv = [a.replace("{port}", str(port)) for a in argv]
        self.argv = (["taskset", "-c", cpu] if cpu else []) + argv
        self.port, self.logpath, self.proc = port, logpath, None

    def start(self):
        if port_open(self.port):
            raise RuntimeError("port %d is already taken" % self.port)
        lf = open(self.logpath, "wb")
        lf.write(("# %s\n" % shlex.join(self.argv)).encode())
        lf.flush()
        self.proc = subprocess.Popen(self.argv, stdout=lf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env=dict(os.environ, PORT=str(self.port)))
        lf.close()
        RUNNING.append(self)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s (%s)"
                                   % (self.proc.returncode, self.logpath))
            if port_open(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError("server did not listen on %d within 30 s" % self.port)

    def cpu_s(self):
        return proc_cpu_s(self.proc.pid)

    def stop(self):
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of our group
        except (ProcessLookupError, PermissionError):
            pass
        if self in RUNNING:
            RUNNING.remove(self)
        self.proc = None


def on_signal(signum, _frame):
    for s in list(RUNNING):
        s.stop()
    sys.exit(128 + signum)


def run(argv, outpath, sample_after=None):
    """Runs argv to completion, output to outpath. Returns (text, rc, total
    CPU s from wait4, CPU s at sample_after seconds or None)."""
    with open(outpath, "w") as out:
        out.write("# %s\n" % shlex.join(argv))
        out.flush()
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        sampled = None
        if sample_after is not None:
            t_end = time.monotonic() + sample_after
            while time.monotonic() < t_end and p.poll() is None:
                time.sleep(0.01)
            try:
                sampled = proc_cpu_s(p.pid)
            except (OSError, ValueError):
                sampled = None
        _, status, ru = os.wait4(p.pid, 0)
        rc = os.waitstatus_to_exitcode(status)
    with open(outpath) as f:
        text = f.read()
    return text, rc, ru.ru_utime + ru.ru_stime, sampled


def grpc_request_body(response_size):
    """The gRPC-framed SimpleRequest{response_size} h2load sends (no
    request payload, as bench_client and cpp_async_client with
    --request-size 0)."""
    msg = b""
    if response_size:
        n, v = response_size, bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            v.append(b | (0x80 if n else 0))
            if not n:
                break
        msg = b"\x10" + bytes(v)  # field 2 (response_size), varint
    return b"\x00" + len(msg).to_bytes(4, "big") + msg


def parse_h2load(text):
    r = {}
    m = re.search(r"finished in [^,]+, ([0-9.]+) req/s", text)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    if m:
        r["succeeded"], r["failed"], r["errored"] = (int(m.group(4)), int(m.group(5)),
                                                     int(m.group(6)))
    m = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text)
    if m:
        r["mean"] = m.group(3)
    return r


def parse_cpp_client(text):
    r = {}
    m = re.search(r"requests/s:\s+([0-9.]+)", text)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"client CPU:\s+([0-9.]+) us/call", text)
    r["us_per_call"] = float(m.group(1)) if m else None
    m = re.search(r"errors:\s+(\d+)", text)
    r["errors"] = int(m.group(1)) if m else None
    m = re.search(r"latency \(us\): mean ([0-9.]+)", text)
    r["mean_us"] = float(m.group(1)) if m else None
    return r


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, f="%.1f"):
    return f % v if v is not None else "-"


def h2load_argv(cpu, threads, c, m, duration, warmup, body, port):
    argv = (["taskset", "-c", cpu] if cpu else []) + [
        "h2load", "-t", str(threads), "-c", str(c), "-m", str(m),
        "-D", "%ds" % duration]
    if warmup > 0:
        argv.append("--warm-up-time=%ds" % warmup)
    return argv + ["-d", body, "-H", "content-type: application/grpc",
                   "-H", "te: trailers",
                   "http://127.0.0.1:%d/grpc.testing.BenchmarkService/UnaryCall" % port]


def check_with_bench_client(a, port, rawdir, tag):
    """A short bench_client run: the server answers OK with the right size."""
    text, rc, _, _ = run([a.bench_client, "--target", "127.0.0.1:%d" % port,
                          "--connections", "1", "--concurrency", "4",
                          "--response-size", str(a.response_size),
                          "--duration", "0.5", "--warmup", "0"],
                         os.path.join(rawdir, "check_%s.txt" % tag))
    if rc != 0:
        raise RuntimeError("bench_client check (%s) failed: %s" % (tag, text[-300:]))


def parse_load(s):
    c, m = s.lower().split("x")
    return int(c), int(m)


# ---------------------------------------------------------------- clients

def cmd_clients(a):
    rawdir = os.path.join(a.out, "raw", "clients")
    os.makedirs(rawdir, exist_ok=True)
    body = os.path.join(rawdir, "req_%d.bin" % a.response_size)
    with open(body, "wb") as f:
        f.write(grpc_request_body(a.response_size))
    loads = [parse_load(x) for x in a.loads.split(",") if x.strip()]
    clients = ["bench_client", "cpp_async_client", "h2load"]
    if not a.cpp_client or not os.path.exists(a.cpp_client):
        log("no grpc C++ async client (%s): its rows are skipped" % a.cpp_client)
        clients.remove("cpp_async_client")
    results = []
    for (c, m) in loads:
        tag = "%dx%d" % (c, m)
        srv = Server(shlex.split(a.server), a.port, a.server_cpu,
                     os.path.join(rawdir, "server_%s.log" % tag))
        rows = {k: [] for k in clients}
        err = None
        try:
            srv.start()
            check_with_bench_client(a, a.port, rawdir, tag)
            for rep in range(1, a.reps + 1):
                for k in clients:  # interleaved, so drift hits all alike
                    out = os.path.join(rawdir, "%s_%s_rep%d.txt" % (k, tag, rep))
                    scpu0, t0 = srv.cpu_s(), time.monotonic()
                    r = run_client(a, k, c, m, body, out)
                    scpu1, t1 = srv.cpu_s(), time.monotonic()
                    r["server_cpu_pct"] = 100.0 * (scpu1 - scpu0) / (t1 - t0)
                    log("  %s %s rep %d: %.0f req/s, %s us/call client CPU, errors %s"
                        % (k, tag, rep, r["rps"], fmt(r.get("us_per_call"), "%.2f"),
                           r.get("errors")))
                    rows[k].append(r)
        except Exception as e:  # noqa: BLE001 - reported in the table
            err = str(e)
            log("clients %s FAILED: %s" % (tag, e))
        finally:
            srv.stop()
        results.append(dict(load=tag, connections=c, concurrency=m, error=err,
                            runs=rows))
    write_clients(a, results)
    return 1 if any(r["error"] or any(x.get("errors") for k in r["runs"]
                                      for x in r["runs"][k]) for r in results) else 0


def run_client(a, kind, c, m, body, out):
    target = "127.0.0.1:%d" % a.port
    common = ["--target", target, "--connections", str(c), "--concurrency", str(m),
              "--response-size", str(a.response_size),
              "--duration", str(a.duration), "--warmup", str(a.warmup)]
    pin = ["taskset", "-c", a.client_cpu]
    if kind == "bench_client":
        js = out[:-4] + ".json"
        text, rc, _, _ = run(pin + [a.bench_client, "--method", "unary"] + common +
                             ["--json", js], out)
        try:
            with open(js) as f:
                j = json.load(f)
        except (OSError, ValueError):
            return dict(rps=0.0, us_per_call=None, errors=None, rc=rc)
        return dict(rps=j["rps"], us_per_call=j["cpu_us_per_call"], errors=j["errors"],
                    p50_us=j["latency_us"]["p50"], p99_us=j["latency_us"]["p99"],
                    mean_us=j["latency_us"]["mean"], rc=rc)
    if kind == "cpp_async_client":
        text, rc, _, _ = run(pin + [a.cpp_client] + common, out)
        r = parse_cpp_client(text)
        r["rc"] = rc
        return r
    # h2load: its CPU over the measured phase = total - what it had used
    # when the warm-up ended; calls = req/s x duration.
    text, rc, total, at_warm = run(
        h2load_argv(a.client_cpu, 1, c, m, a.duration, a.warmup, body, a.port), out,
        sample_after=a.warmup)
    r = parse_h2load(text)
    calls = r["rps"] * a.duration
    cpu = total - (at_warm or 0.0)
    bad = r.get("failed", 0) + r.get("errored", 0)
    return dict(rps=r["rps"], us_per_call=cpu * 1e6 / calls if calls else None,
                errors=bad if rc == 0 else (bad or 1), rc=rc, mean=r.get("mean"))


def write_clients(a, results):
    L = ["## b. Client side: one client core, same unary load",
         "",
         "Server: `%s` pinned to CPU %s. Each client pinned to CPU %s, %d s measured "
         "after %d s warm-up, %d run(s) each, interleaved; medians. Client CPU per "
         "call = the client's user+sys CPU over the measured phase ÷ calls "
         "(bench_client and the C++ client: getrusage; h2load: /proc sampled at the "
         "end of its warm-up and wait4 at exit). Calls per client CPU-second = "
         "10⁶ ÷ µs/call. bench_client and the C++ client count only OK calls with "
         "the right payload size; h2load counts HTTP 2xx (it cannot see "
         "grpc-status). Server CPU %% tells whether the server was the limit."
         % (a.server, a.server_cpu, a.client_cpu, a.duration, a.warmup, a.reps),
         ""]
    for r in results:
        L.append("### %s: %d connection(s) × %d call(s) in flight, response_size %d"
                 % (r["load"], r["connections"], r["concurrency"], a.response_size))
        L.append("")
        if r["error"]:
            L.append("**FAILED**: %s" % r["error"])
            L.append("")
        L.append("| client | req/s | client CPU µs/call | calls per client CPU-s "
                 "| server CPU % | latency | errors |")
        L.append("|---|---:|---:|---:|---:|---|---:|")
        s = {}
        for k, runs in r["runs"].items():
            if not runs:
                continue
            us = med([x.get("us_per_call") for x in runs])
            s[k] = us
            if k == "bench_client":
                lat = "p50 %s / p99 %s µs" % (fmt(med([x.get("p50_us") for x in runs])),
                                              fmt(med([x.get("p99_us") for x in runs])))
            elif k == "cpp_async_client":
                lat = "mean %s µs" % fmt(med([x.get("mean_us") for x in runs]))
            else:
                lat = "mean %s" % (runs[-1].get("mean") or "-")
            L.append("| %s | %s | %s | %s | %.0f | %s | %d |" % (
                k, "{:,.0f}".format(med([x["rps"] for x in runs]) or 0), fmt(us, "%.2f"),
                "{:,.0f}".format(1e6 / us) if us else "-",
                med([x["server_cpu_pct"] for x in runs]) or 0, lat,
                sum(x.get("errors") or 0 for x in runs)))
        L.append("")
        b, cc, h = s.get("bench_client"), s.get("cpp_async_client"), s.get("h2load")
        if b and cc:
            L.append("- bench_client does **%.2f×** the calls per client CPU-second of "
                     "the grpc C++ async client (goal ≥ 2×)." % (cc / b))
        if b and h:
            L.append("- bench_client's CPU per call is **%.2f×** h2load's (goal ≤ 2×)."
                     % (b / h))
        L.append("")
        r["summary_us_per_call"] = s
    with open(os.path.join(a.out, "clients.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    with open(os.path.join(a.out, "clients.json"), "w") as f:
        json.dump(dict(duration=a.duration, warmup=a.warmup, reps=a.reps,
                       server=a.server, results=results), f, indent=1)


# ---------------------------------------------------------------- idle

def cmd_idle(a):
    rawdir = os.path.join(a.out, "raw", "idle")
    os.makedirs(rawdir, exist_ok=True)
    rows = []
    status = 0
    for spec in a.server:
        name, _, cmd = spec.partition("=")
        srv = Server(shlex.split(cmd), a.port, a.server_cpu,
                     os.path.join(rawdir, "server_%s.log" % name))
        js = os.path.join(rawdir, "idle_%s.json" % name)
        res = dict(name=name, error=None)
        try:
            srv.start()
            time.sleep(0.5)
            text, rc, _, _ = run(["/usr/bin/python3", os.path.join(HERE, "idle_conns.py"),
                                  "--port", str(a.port), "--pid", str(srv.proc.pid),
                                  "--count", str(a.count), "--name", name,
                                  "--json", js],
                                 os.path.join(rawdir, "idle_%s.txt" % name))
            log("  " + text.strip().splitlines()[-1])
            with open(js) as f:
                res.update(json.load(f))
            if rc != 0:
                res["error"] = "not every connection stayed up and answered (rc %d)" % rc
        except Exception as e:  # noqa: BLE001
            res["error"] = str(e)
        finally:
            srv.stop()
        if res["error"]:
            status = 1
            log("idle %s: %s" % (name, res["error"]))
        rows.append(res)
    L = ["## c. %d idle HTTP/2 connections" % a.count, "",
         "`bench/peers/idle_conns.py` opens the connections (preface + SETTINGS, "
         "waits for the server's SETTINGS, ACKs it), keeps them idle, and reads the "
         "server's VmRSS before and after; then PINGs every connection. Fresh server "
         "process each, pinned to CPU %s." % a.server_cpu, "",
         "| server | up | answered PING | VmRSS before KiB | VmRSS idle KiB "
         "| bytes per connection | VmRSS after close KiB | threads | note |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["name"], r.get("up", "-"), r.get("ping_acked", "-"),
            r.get("rss_before_kib", "-"), r.get("rss_idle_kib", "-"),
            fmt(r.get("rss_bytes_per_conn"), "%.0f"), r.get("rss_after_close_kib", "-"),
            r.get("threads_idle", "-"), (r["error"] or "").replace("|", "/")))
    L.append("")
    with open(os.path.join(a.out, "idle.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    with open(os.path.join(a.out, "idle.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return status


# ---------------------------------------------------------------- scaling

def cmd_scaling(a):
    rawdir = os.path.join(a.out, "raw", "scaling")
    os.makedirs(rawdir, exist_ok=True)
    body = os.path.join(rawdir, "req_%d.bin" % a.response_size)
    with open(body, "wb") as f:
        f.write(grpc_request_body(a.response_size))
    c, m = parse_load(a.load)
    rows = []
    status = 0
    for t in [int(x) for x in a.threads.split(",") if x.strip()]:
        srv = Server([a.bench_server, "--port", "{port}", "--threads", str(t)], a.port,
                     None, os.path.join(rawdir, "server_t%d.log" % t))
        row = dict(threads=t, runs=[], error=None)
        try:
            srv.start()
            check_with_bench_client(a, a.port, rawdir, "t%d" % t)
            for rep in range(1, a.reps + 1):
                out = os.path.join(rawdir, "h2load_t%d_rep%d.txt" % (t, rep))
                argv = h2load_argv(None, a.h2load_threads, c, m, a.duration, a.warmup,
                                   body, a.port)
                # Server CPU over the measured phase: sampled when h2load's
                # warm-up ends and when it exits.
                p = None
                scpu0 = srv.cpu_s()
                with open(out, "w") as fo:
                    fo.write("# %s\n" % shlex.join(argv))
                    fo.flush()
                    p = subprocess.Popen(argv, stdout=fo, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
                    time.sleep(a.warmup)
                    scpu_w = srv.cpu_s()
                    _, st, ru = os.wait4(p.pid, 0)
                    scpu1 = srv.cpu_s()
                with open(out) as f:
                    r = parse_h2load(f.read())
                calls = r["rps"] * a.duration
                run_ = dict(rps=r["rps"], srv_cpu_s=scpu1 - scpu_w,
                            srv_cpu_s_total=scpu1 - scpu0,
                            srv_us_per_req=(scpu1 - scpu_w) * 1e6 / calls if calls else None,
                            srv_cpu_pct=100.0 * (scpu1 - scpu_w) / a.duration,
                            h2load_cpu_s=ru.ru_utime + ru.ru_stime,
                            errors=r.get("failed", 0) + r.get("errored", 0),
                            rc=os.waitstatus_to_exitcode(st))
                log("  --threads %d rep %d: %.0f req/s, server %.1f us/req, %.0f %% CPU"
                    % (t, rep, run_["rps"], run_["srv_us_per_req"] or 0,
                       run_["srv_cpu_pct"]))
                row["runs"].append(run_)
            check_with_bench_client(a, a.port, rawdir, "t%d_after" % t)
        except Exception as e:  # noqa: BLE001
            row["error"] = str(e)
            status = 1
            log("scaling --threads %d FAILED: %s" % (t, e))
        finally:
            srv.stop()
        rows.append(row)
    L = ["## d. bench_server --threads scaling (unpinned)", "",
         "bench_server with T I/O threads, no CPU pinning; h2load -t %d -c %d -m %d on "
         "the **same 2-core machine** (the load generator competes with the server "
         "for the cores, so this shows the trend, not the server's ceiling). %d s "
         "measured after %d s warm-up, %d run(s), medians. Server CPU sampled from "
         "/proc at the end of h2load's warm-up and at its exit; bench_client checked "
         "the responses (OK, right size) before and after." % (
             a.h2load_threads, c, m, a.duration, a.warmup, a.reps), "",
         "| --threads | req/s | server CPU % (of one core) | server CPU µs/req "
         "| h2load CPU s | errors | note |",
         "|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        runs = r["runs"]
        L.append("| %d | %s | %s | %s | %s | %d | %s |" % (
            r["threads"], "{:,.0f}".format(med([x["rps"] for x in runs]) or 0),
            fmt(med([x["srv_cpu_pct"] for x in runs]), "%.0f"),
            fmt(med([x["srv_us_per_req"] for x in runs]), "%.2f"),
            fmt(med([x["h2load_cpu_s"] for x in runs]), "%.1f"),
            sum(x["errors"] for x in runs), (r["error"] or "").replace("|", "/")))
    L.append("")
    with open(os.path.join(a.out, "scaling.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    with open(os.path.join(a.out, "scaling.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return status


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--out", required=True, help="results folder")
        p.add_argument("--port", type=int, default=50161)
        p.add_argument("--duration", type=int, default=10)
        p.add_argument("--warmup", type=int, default=2)
        p.add_argument("--reps", type=int, default=2)
        p.add_argument("--response-size", type=int, default=0)
        p.add_argument("--bench-client", help="build/bench/bench_client")

    p = sub.add_parser("clients")
    common(p)
    p.add_argument("--server", required=True, help="server command; {port} and $PORT")
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--client-cpu", default="1")
    p.add_argument("--cpp-client", help="build/bench/peers/cpp_async_client")
    p.add_argument("--loads", default="1x1,4x64", help="CONNxCALLS list")

    p = sub.add_parser("idle")
    common(p)
    p.add_argument("--server", action="append", required=True,
                   help="NAME=COMMAND (repeatable); {port} and $PORT")
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--count", type=int, default=10000)

    p = sub.add_parser("scaling")
    common(p)
    p.add_argument("--bench-server", required=True)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--h2load-threads", type=int, default=2)
    p.add_argument("--load", default="4x64")

    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    try:
        return dict(clients=cmd_clients, idle=cmd_idle, scaling=cmd_scaling)[a.cmd](a)
    finally:
        for s in list(RUNNING):
            s.stop()


if __name__ == "__main__":
    sys.exit(main())
