#!/usr/bin/python3
"""Soak: tern's soak client (soak.c) against rg_test_server for --duration
seconds, with server restarts under the client, sampling the server's RSS,
descriptors and threads. 127.0.0.1 only; every wait bounded.

  run_soak.py --soak BUILD/tests/soak/soak \\
              --server BUILD/tests/interop/rg_test_server \\
              --db examples/route_guide/route_guide_db.json --duration 30

Restarts: --restarts N (default 2; 4 past 120 s), at 0.3 * duration * k /
N. They alternate a graceful stop (SIGTERM: GOAWAY, 2 s grace) and a crash
(SIGKILL), with 0.3-1.0 s of outage before the server comes back on the
same port. The client is told on stdin ("down graceful|kill", "dead",
"up") so that it can tell failures the restart explains from the others.

Flatness is judged on the server's last life (after the last restart),
after a warm-up of max(5 s, 20 % of that life): RSS at the end of the load
may exceed the warmed-up baseline by at most max(--rss-tolerance-kb,
--rss-tolerance-pct of the baseline); descriptors and threads may not
exceed their baseline by more than --fd-tolerance (the client's connections
come and go only with restarts). --sanitized skips the RSS check (ASan's
quarantine and TSan's shadow memory grow by design) but keeps the others.

Exit status 0 only when the client passed (0 wrong answers, every failure
explained, see soak.c), the server never died unasked, exited 0 on the
final SIGTERM, and stayed flat.
"""

import argparse
import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

LISTENING_RE = re.compile(r"^LISTENING (\d+)\s*$")
_print_lock = threading.Lock()


def say(line):
    with _print_lock:
        sys.stdout.write(line.rstrip("\n") + "\n")
        sys.stdout.flush()


def reserve_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child in its own process group; output lines forwarded with a
    prefix (unless quiet) and kept."""

    def __init__(self, argv, prefix, stdin=subprocess.DEVNULL, quiet=None):
        self.prefix = prefix
        self.lines = []
        self.quiet = quiet or (lambda line: False)
        self.cond = threading.Condition()
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE,
                                  start_new_session=True)
        self.readers = [threading.Thread(target=self._pump, args=(s,),
                                         daemon=True)
                        for s in (self.p.stdout, self.p.stderr)]
        for t in self.readers:
            t.start()

    def _pump(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
            if not self.quiet(line):
                say(self.prefix + line)
        stream.close()

    def wait_line(self, pred, timeout, start=0):
        """The first line (from index start) matching pred, or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    m = pred(self.lines[i])
                    if m:
                        return m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.1))

    def join_output(self, timeout):
        end = time.monotonic() + timeout
        for t in self.readers:
            t.join(max(0.0, end - time.monotonic()))

    def signal_group(self, sig):
        try:
            os.killpg(self.p.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, sig, grace):
        """Signal, then SIGKILL after grace s. (returncode, clean)."""
        if self.p.poll() is not None:
            self.signal_group(signal.SIGKILL)
            return self.p.returncode, False
        self.signal_group(sig)
        try:
            rc = self.p.wait(timeout=grace)
            self.signal_group(signal.SIGKILL)
            return rc, True
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            try:
                return self.p.wait(timeout=10), False
            except subprocess.TimeoutExpired:
                return None, False


def sample(pid):
    """(rss_kb, fds, threads) of a live process, or None."""
    try:
        rss = threads = None
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        fds = len(os.listdir("/proc/%d/fd" % pid))
        return rss, fds, threads
    except (OSError, ValueError):
        return None


def dump_stacks(pid, who):
    """Every thread's stack of a process that hangs (gdb, bounded)."""
    say("run_soak: %s hangs; its threads (gdb):" % who)
    try:
        out = subprocess.run(
            ["gdb", "-p", str(pid), "-batch", "-nx",
             "-ex", "thread apply all bt 20"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        say("run_soak: no stacks: %s" % e)
        return
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith(("Thread ", "#")):
            say("[%s stack] %s" % (who, line))


def start_server(args, port, life):
    argv = shlex.split(args.server_prefix) + [
        args.server, "--port", str(port), "--db", args.db]
    for attempt in range(20):
        srv = Proc(argv, "[server %d] " % life)
        m = srv.wait_line(LISTENING_RE.match, args.startup_timeout)
        if m:
            return srv
        srv.stop(signal.SIGKILL, 2)
        srv.join_output(2)
        say("run_soak: server did not come up on port %d (attempt %d)"
            % (port, attempt + 1))
        time.sleep(0.5)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--soak", required=True, help="the soak client binary")
    ap.add_argument("--server", required=True, help="rg_test_server binary")
    ap.add_argument("--db", required=True, help="route_guide_db.json")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--restarts", type=int, default=None,
                    help="server restarts (default 2, or 4 past 120 s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-interval", type=float, default=2.0)
    ap.add_argument("--rss-tolerance-kb", type=int, default=8192)
    ap.add_argument("--rss-tolerance-pct", type=float, default=10.0)
    ap.add_argument("--fd-tolerance", type=int, default=2)
    ap.add_argument("--startup-timeout", type=float, default=30.0)
    ap.add_argument("--sanitized", action="store_true",
                    help="sanitizer build: no RSS check")
    ap.add_argument("--server-prefix", default="",
                    help="command the server runs under, e.g. \"valgrind "
                         "--leak-check=full --error-exitcode=99\"; its "
                         "exit status counts at each graceful stop")
    ap.add_argument("--soak-prefix", default="",
                    help="command the soak client runs under")
    ap.add_argument("--json-out", default=None,
                    help="write the figures here as JSON")
    args = ap.parse_args()

    if args.restarts is None:
        args.restarts = 2 if args.duration <= 120 else 4
    if args.duration <= 0 or args.restarts < 0 or args.restarts > 50:
        say("run_soak: bad --duration or --restarts")
        return 2
    seed = args.seed or random.SystemRandom().randrange(1, 2 ** 31)
    rnd = random.Random(seed)
    port = reserve_port()
    # 2 s of grace, then exit; a wrapper (valgrind) needs more.
    stop_grace = 60 if args.server_prefix else 15
    restart_at = [0.3 * args.duration * (k + 1) / args.restarts
                  for k in range(args.restarts)]
    failures = []
    samples = []  # (t, life, rss_kb, fds, threads)
    restarts = []
    life = 0

    say("run_soak: port %d, duration %.0f s, restarts at %s s, seed %d" %
        (port, args.duration, [round(t, 1) for t in restart_at], seed))
    server = start_server(args, port, life)
    if server is None:
        say("run_soak: FAIL server did not start")
        return 1
    t0 = time.monotonic()
    client = Proc(shlex.split(args.soak_prefix) + [
                   args.soak, "--target", "127.0.0.1:%d" % port,
                   "--db", args.db, "--duration", str(args.duration),
                   "--threads", str(args.threads),
                   "--channels", str(args.channels), "--seed", str(seed)],
                  "[soak] ", stdin=subprocess.PIPE)
    life_start = {0: time.monotonic()}

    def tell(line):
        try:
            client.p.stdin.write((line + "\n").encode())
            client.p.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    hard_end = t0 + args.duration + 60  # calls: <= 10 s deadline + 15 s slack
    next_sample = t0
    k = 0
    load_end = None
    while client.p.poll() is None and time.monotonic() < hard_end:
        now = time.monotonic()
        if server.p.poll() is not None:
            failures.append("server died unasked (%s) in life %d" %
                            (server.p.returncode, life))
            break
        if load_end is None and now - t0 >= args.duration:
            load_end = now
        if now >= next_sample:
            s = sample(server.p.pid)
            if s:
                samples.append((now - t0, life) + s)
            next_sample = now + args.sample_interval
        if k < len(restart_at) and now - t0 >= restart_at[k]:
            graceful = k % 2 == 0
            n_acks = client.lines.count("ACK down")
            tell("down %s" % ("graceful" if graceful else "kill"))
            ack_end = time.monotonic() + 5
            while (client.lines.count("ACK down") <= n_acks and
                   time.monotonic() < ack_end and client.p.poll() is None):
                time.sleep(0.01)
            t_down = time.monotonic() - t0
            rc, clean = server.stop(
                signal.SIGTERM if graceful else signal.SIGKILL,
                stop_grace if graceful else 5)
            server.join_output(5)
            tell("dead")
            t_dead = time.monotonic() - t0
            if graceful and (rc != 0 or not clean):
                failures.append("graceful stop %d: server %s" % (k + 1, rc))
            outage = rnd.uniform(0.3, 1.0)
            time.sleep(outage)
            life += 1
            server = start_server(args, port, life)
            if server is None:
                failures.append("server did not restart on port %d" % port)
                break
            tell("up")
            t_up = time.monotonic() - t0
            life_start[life] = time.monotonic()
            restarts.append({"at_s": round(t_down, 2),
                             "how": "SIGTERM (graceful, 2 s grace)"
                             if graceful else "SIGKILL",
                             "exit": rc, "down_s": round(t_up - t_down, 2),
                             "stop_s": round(t_dead - t_down, 2)})
            say("run_soak: restart %d (%s) at %.1f s: stopped in %.2f s, "
                "back after %.2f s" % (k + 1, restarts[-1]["how"], t_down,
                                       t_dead - t_down, t_up - t_down))
            k += 1
            next_sample = time.monotonic()
            continue
        time.sleep(0.05)

    if client.p.poll() is None:
        failures.append("soak client still running %.0f s after its "
                        "duration: killed" % 60)
        dump_stacks(client.p.pid, "soak")
        client.stop(signal.SIGKILL, 2)
    client.join_output(5)
    if server.p.poll() is None:
        s = sample(server.p.pid)
        if s:
            samples.append((time.monotonic() - t0, life) + s)
    try:
        client.p.stdin.close()
    except OSError:
        pass

    rc, clean = server.stop(signal.SIGTERM, stop_grace)
    server.join_output(5)
    if rc != 0 or not clean:
        failures.append("server did not exit 0 on the final SIGTERM (%s)" %
                        rc)

    figures = None
    for line in client.lines:
        if line.startswith("SOAK_JSON "):
            try:
                figures = json.loads(line[len("SOAK_JSON "):])
            except ValueError as e:
                failures.append("bad SOAK_JSON: %s" % e)
    if figures is None:
        failures.append("the soak client printed no figures (exit %s)" %
                        client.p.returncode)
    elif client.p.returncode != 0 or not figures.get("pass"):
        failures.append("the soak client failed (exit %s)" %
                        client.p.returncode)

    # Flatness, on the last life, under load.
    last = [s for s in samples if s[1] == life and s[0] <= args.duration]
    flat = {}
    if last:
        life_t0 = life_start[life] - t0
        life_len = last[-1][0] - life_t0
        warm = life_t0 + max(5.0, 0.2 * life_len)
        steady = [s for s in last if s[0] >= warm]
        if len(steady) < 3:
            failures.append("too few samples after warm-up (%d): run "
                            "longer" % len(steady))
        else:
            base = steady[0]
            end = steady[-1]
            rss_max = max(s[2] for s in steady)
            fd_max = max(s[3] for s in steady)
            thr_max = max(s[4] for s in steady)
            tol = max(args.rss_tolerance_kb,
                      base[2] * args.rss_tolerance_pct / 100.0)
            flat = {"life_start_s": round(life_t0, 1),
                    "baseline_at_s": round(base[0], 1),
                    "end_at_s": round(end[0], 1),
                    "rss_kb": [base[2], end[2], rss_max],
                    "fds": [base[3], end[3], fd_max],
                    "threads": [base[4], end[4], thr_max],
                    "rss_tolerance_kb": int(tol),
                    "fd_tolerance": args.fd_tolerance,
                    "samples": len(steady)}
            say("run_soak: server RSS %d -> %d kB (max %d, tolerance +%d "
                "kB), fds %d -> %d (max %d), threads %d -> %d (max %d)" %
                (base[2], end[2], rss_max, tol, base[3], end[3], fd_max,
                 base[4], end[4], thr_max))
            if not args.sanitized and end[2] - base[2] > tol:
                failures.append("server RSS grew %d kB (> %d kB)" %
                                (end[2] - base[2], tol))
            if fd_max - base[3] > args.fd_tolerance or \
                    end[3] - base[3] > args.fd_tolerance:
                failures.append("server descriptors grew %d -> %d (max %d)"
                                % (base[3], end[3], fd_max))
            if thr_max > base[4]:
                failures.append("server threads grew %d -> %d" %
                                (base[4], thr_max))
    else:
        failures.append("no samples of the server's last life")

    report = {"seed": seed, "duration_s": args.duration,
              "restarts": restarts, "client": figures, "server": flat,
              "samples": [list(s) for s in samples],
              "failures": failures}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=1)
    for f in failures:
        say("run_soak: FAIL " + f)
    if failures:
        return 1
    say("run_soak: PASS (%d calls, 0 wrong, 0 unexplained, %d restarts)" %
        (figures["calls"], len(restarts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
