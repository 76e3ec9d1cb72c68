#!/usr/bin/python3
"""Runs one interop pair: a test server and a client against it, on
127.0.0.1 only, every wait bounded.

  run_pair.py --server "CMD ARGS" --client "CMD ARGS {port}" [options]

The server command may contain {port}: it is replaced by a free port this
script reserved (the server is then ready once it prints `LISTENING <port>`
or accepts a TCP connection on that port). Without {port} the server must
pick a port itself and print `LISTENING <port>` on stdout. {port} in the
client command is replaced by the server's port, and {dead_port} by
another reserved port that nothing listens on (for UNAVAILABLE tests).

Exit status: the client's (124 when it timed out), or 1 when the server
could not start, an --expect text is missing from the client's output, or
--check-server-exit is given and the server did not exit 0 after SIGTERM.
"""

import argparse
import os
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
        sys.stdout.write(line if line.endswith("\n") else line + "\n")
        sys.stdout.flush()


def reserve_port():
    """A port nothing listens on right now (bind to 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Proc:
    """A child in its own process group whose output lines are forwarded
    with a prefix; stdout lines are also kept for inspection."""

    def __init__(self, argv, prefix, env=None):
        self.prefix = prefix
        self.lines = []
        self.listening_port = None
        self.listening = threading.Event()
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE,
                                  start_new_session=True, env=env)
        self.readers = [
            threading.Thread(target=self._pump, args=(self.p.stdout, True),
                             daemon=True),
            threading.Thread(target=self._pump, args=(self.p.stderr, False),
                             daemon=True),
        ]
        for t in self.readers:
            t.start()

    def _pump(self, stream, is_stdout):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if is_stdout:
                self.lines.append(line)
                m = LISTENING_RE.match(line)
                if m and self.listening_port is None:
                    self.listening_port = int(m.group(1))
                    self.listening.set()
            say(self.prefix + line)
        stream.close()

    def join_output(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.readers:
            t.join(max(0.0, deadline - time.monotonic()))

    def signal_group(self, sig):
        try:
            os.killpg(self.p.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace, on_hang=None):
        """SIGTERM to the group, SIGKILL after `grace` s (on_hang(pid) runs
        first). Returns (returncode, killed)."""
        if self.p.poll() is not None:
            # Leftover children of an exited leader still go.
            self.signal_group(signal.SIGKILL)
            return self.p.returncode, False
        self.signal_group(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=grace)
            self.signal_group(signal.SIGKILL)
            return rc, False
        except subprocess.TimeoutExpired:
            if on_hang is not None:
                on_hang(self.p.pid)
            self.signal_group(signal.SIGKILL)
            try:
                return self.p.wait(timeout=5), True
            except subprocess.TimeoutExpired:
                return None, True


def dump_stacks(pid):
    """Every thread's stack of a process that will not stop, through gdb
    (when installed and allowed to attach), bounded in time."""
    say("run_pair: server ignores SIGTERM; its threads (gdb):")
    try:
        out = subprocess.run(
            ["gdb", "-p", str(pid), "-batch", "-nx",
             "-ex", "thread apply all bt 16"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        say("run_pair: no stacks: %s" % e)
        return
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith(("Thread ", "#")):
            say("[server stack] " + line)


def describe_rc(rc):
    if rc is None:
        return "did not exit"
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit status %d" % rc


def wait_ready(server, port, startup_timeout):
    """Waits until the server is ready. Returns its port or None."""
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if server.listening.wait(0.1):
            return server.listening_port
        if server.p.poll() is not None:
            # Give the reader a moment to see a final LISTENING line.
            server.join_output(1.0)
            return server.listening_port
        if port is not None and port_accepts(port):
            return port
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True,
                    help="server command line; {port} = a reserved port")
    ap.add_argument("--client", required=True,
                    help="client command line; {port} = the server's port, "
                         "{dead_port} = a port nothing listens on")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds the client may run (default 120)")
    ap.add_argument("--startup-timeout", type=float, default=15.0,
                    help="seconds to wait for the server (default 15)")
    ap.add_argument("--server-delay", type=float, default=None,
                    help="start the client first and the server this many "
                         "seconds later on a reserved port")
    ap.add_argument("--check-server-exit", action="store_true",
                    help="fail unless the server exits 0 after SIGTERM")
    ap.add_argument("--expect", action="append", default=[],
                    help="text the client's stdout must contain (repeatable)")
    ap.add_argument("--gdb-on-hang", action="store_true",
                    help="print the server's thread stacks (gdb) when it "
                         "does not stop on SIGTERM")
    ap.add_argument("--kill-grace", type=float, default=5.0,
                    help="seconds between SIGTERM and SIGKILL (default 5)")
    args = ap.parse_args()

    server_has_port = "{port}" in args.server
    if args.server_delay is not None and not server_has_port:
        say("run_pair: --server-delay needs {port} in --server")
        return 2

    port = reserve_port() if server_has_port else None
    server_argv = [a.replace("{port}", str(port)) if port is not None else a
                   for a in shlex.split(args.server)]

    server = None
    client = None
    status = 0
    try:
        if args.server_delay is None:
            say("run_pair: server: " + shlex.join(server_argv))
            server = Proc(server_argv, "[server] ")
            ready = wait_ready(server, port, args.startup_timeout)
            if ready is None:
                say("run_pair: FAIL server not ready within %.0f s (%s)" %
                    (args.startup_timeout,
                     describe_rc(server.p.poll()) if server.p.poll()
                     is not None else "still running"))
                return 1
            port = ready
            say("run_pair: server ready on port %d" % port)

        dead_port = reserve_port() if "{dead_port}" in args.client else 0
        client_argv = [a.replace("{port}", str(port))
                       .replace("{dead_port}", str(dead_port))
                       for a in shlex.split(args.client)]
        say("run_pair: client: " + shlex.join(client_argv))
        client = Proc(client_argv, "")

        if args.server_delay is not None:
            # Bounded by the client's own timeout: the client may end first.
            t_end = time.monotonic() + args.server_delay
            while time.monotonic() < t_end and client.p.poll() is None:
                time.sleep(0.05)
            say("run_pair: starting server after %.1f s: %s" %
                (args.server_delay, shlex.join(server_argv)))
            server = Proc(server_argv, "[server] ")

        try:
            client_rc = client.p.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            say("run_pair: FAIL client still running after %.0f s; killing" %
                args.timeout)
            client.stop(2.0)
            client_rc = 124
        client.join_output(5.0)
        status = client_rc
        say("run_pair: client %s" % describe_rc(client_rc))

        out = "\n".join(client.lines)
        for text in args.expect:
            if text in out:
                say("run_pair: found expected output %r" % text)
            else:
                say("run_pair: FAIL expected output %r not found" % text)
                if status == 0:
                    status = 1

        if server is not None:
            early = server.p.poll()
            if early is not None:
                say("run_pair: server had already ended (%s) before SIGTERM"
                    % describe_rc(early))
            rc, killed = server.stop(
                args.kill_grace, dump_stacks if args.gdb_on_hang else None)
            server.join_output(5.0)
            clean = (early is None and rc == 0 and not killed)
            say("run_pair: server %s%s" %
                (describe_rc(rc),
                 " (still running %.0f s after SIGTERM)" %
                 args.kill_grace if killed else ""))
            if not clean:
                if args.check_server_exit:
                    say("run_pair: FAIL server did not shut down cleanly")
                    if status == 0:
                        status = 1
                else:
                    say("run_pair: note: server did not shut down cleanly "
                        "(not checked)")
        return status
    finally:
        for proc in (client, server):
            if proc is not None and proc.p.poll() is None:
                proc.stop(1.0)


if __name__ == "__main__":
    sys.exit(main())
