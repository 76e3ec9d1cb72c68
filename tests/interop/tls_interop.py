#!/usr/bin/python3
"""TLS and mutual TLS interop between one RouteGuide client and one
RouteGuide test server (tern, grpcio, grpc C++), with throw-away
certificates made at test time, each phase run by run_pair.py on
127.0.0.1.

  tls_interop.py pair --server "CMD ARGS" --client "CMD ARGS"
                 --make-certs tests/tls/make_certs.sh [--keep-certs]

--server is a test server command line without TLS flags (it must take
--port 0 and print LISTENING <port>); --client is an interop client command
line without --target or TLS flags. Both get grpc's interop flags
(--use_tls=true, --tls_cert_file=..., --ca_file=..., ...). Phases, each a
fresh server under run_pair.py:

  tls      TLS server. At once: a client runs every default case (and
           peer_identity: the server sees no client certificate) while
           clients with a wrong CA and with a host name the certificate
           does not carry are refused (UNAVAILABLE). Then the server still
           serves: one good call, and one through --server_host_override
           of a name the certificate does carry (*.test.example.com).
  expired  a server with an expired certificate: refused (UNAVAILABLE).
  mtls     TLS server requiring a client certificate. At once: a client
           with one runs every default case and peer_identity (the server
           sees CN test-client) while a client without a certificate and
           one whose certificate comes from another CA are refused
           (UNAVAILABLE). Then the server still serves a good client.

A refusal is the client case handshake_refused: its one call must end
UNAVAILABLE within 4 s. Exit status 0 only when every step passed.

  tls_interop.py with-certs --make-certs SCRIPT -- CMD ARGS...

runs CMD with every `{certs}` in its arguments replaced by the directory of
fresh certificates (removed afterwards); its exit status is CMD's.

(`tls_interop.py steps PLAN --port N` is the client side of one phase, run
by run_pair.py.)
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_PAIR = os.path.join(HERE, "run_pair.py")
PYTHON = "/usr/bin/python3"

_print_lock = threading.Lock()


def say(line):
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


# --- certificates ----------------------------------------------------------

def make_certs(script, keep):
    """Runs make_certs.sh into a new temporary directory and adds
    rogue_client.pem/key (CN=test-client, signed by other_ca). Returns the
    directory."""
    d = tempfile.mkdtemp(prefix="tern-tls-interop-")
    try:
        subprocess.run(["bash", script, d], check=True, timeout=120,
                       stdout=subprocess.DEVNULL)
        rogue = [
            ["openssl", "req", "-newkey", "rsa:2048", "-nodes",
             "-keyout", "rogue_client.key", "-out", "rogue_client.csr",
             "-subj", "/CN=test-client"],
            ["openssl", "x509", "-req", "-in", "rogue_client.csr",
             "-CA", "other_ca.pem", "-CAkey", "other_ca.key",
             "-CAcreateserial", "-out", "rogue_client.pem", "-days", "30"],
        ]
        for argv in rogue:
            subprocess.run(argv, cwd=d, check=True, timeout=60,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        if not keep:
            shutil.rmtree(d, ignore_errors=True)
        raise
    say("tls_interop: certificates in %s%s" %
        (d, " (kept)" if keep else ""))
    return d


# --- one phase: a server under run_pair.py, clients per the plan -----------

def step(name, argv, timeout=15.0):
    return {"name": name, "argv": argv, "timeout": timeout}


def phase(name, server_argv, groups, certs, timeout):
    """Runs one server (run_pair.py) whose client is `steps PLAN`. True
    when every step passed and the server stopped cleanly."""
    plan = os.path.join(certs, "plan-%s.json" % name)
    with open(plan, "w", encoding="utf-8") as f:
        json.dump({"groups": groups}, f, indent=1)
    argv = [PYTHON, RUN_PAIR, "--check-server-exit", "--gdb-on-hang",
            "--timeout", str(timeout),
            "--server", shlex.join(server_argv),
            "--client", shlex.join([PYTHON, os.path.abspath(__file__),
                                    "steps", plan, "--port", "{port}"])]
    say("tls_interop: ==== phase %s" % name)
    t0 = time.monotonic()
    try:
        # run_pair.py bounds the client and the server's stop itself.
        rc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                            timeout=timeout + 30).returncode
    except subprocess.TimeoutExpired:
        say("tls_interop: run_pair.py itself hung; killed")
        rc = 124
    say("tls_interop: ==== phase %s: %s (%.1f s)" %
        (name, "ok" if rc == 0 else "FAIL (status %d)" % rc,
         time.monotonic() - t0))
    return rc == 0


def cmd_pair(args):
    server = shlex.split(args.server)
    client = shlex.split(args.client) + ["--target", "127.0.0.1:{port}"]
    certs = make_certs(args.make_certs, args.keep_certs)
    c = lambda f: os.path.join(certs, f)  # noqa: E731
    tls = ["--use_tls=true"]

    def server_flags(cert="server"):
        return server + tls + ["--tls_cert_file=" + c(cert + ".pem"),
                               "--tls_key_file=" + c(cert + ".key")]

    def client_argv(ca="ca.pem", override=None, cert=None, cases=(),
                    peer=None):
        argv = client + tls + ["--ca_file=" + c(ca)]
        if override:
            argv.append("--server_host_override=" + override)
        if cert:
            argv += ["--client_cert_file=" + c(cert + ".pem"),
                     "--client_key_file=" + c(cert + ".key")]
        for name in cases:
            argv.append("--case=" + name)
        if peer is not None:
            argv.append("--expect_peer_identity=" + peer)
        return argv

    refused = ("handshake_refused",)
    results = []
    try:
        results.append(("tls", phase("tls", server_flags(), [
            [step("tls_all_cases", client_argv(peer=""), 40.0),
             step("wrong_ca_refused",
                  client_argv(ca="other_ca.pem", cases=refused)),
             step("wrong_host_refused",
                  client_argv(override="wrong.example.org", cases=refused))],
            [step("tls_still_serving",
                  client_argv(cases=("peer_identity",), peer="")),
             step("tls_host_override_ok",
                  client_argv(override="foo.test.example.com",
                              cases=("peer_identity",), peer=""))],
        ], certs, args.timeout)))
        results.append(("expired", phase("expired", server_flags("expired"), [
            [step("expired_cert_refused", client_argv(cases=refused))],
        ], certs, args.timeout)))
        mtls_server = server_flags() + [
            "--tls_client_ca_file=" + c("ca.pem"),
            "--require_client_cert=true"]
        results.append(("mtls", phase("mtls", mtls_server, [
            [step("mtls_all_cases",
                  client_argv(cert="client", peer="test-client"), 40.0),
             step("no_client_cert_refused", client_argv(cases=refused)),
             step("untrusted_client_cert_refused",
                  client_argv(cert="rogue_client", cases=refused))],
            [step("mtls_still_serving",
                  client_argv(cert="client", cases=("peer_identity",),
                              peer="test-client"))],
        ], certs, args.timeout)))
    finally:
        if not args.keep_certs:
            shutil.rmtree(certs, ignore_errors=True)
    failed = [name for name, ok in results if not ok]
    say("tls_interop: %d phases passed, %d failed%s" %
        (len(results) - len(failed), len(failed),
         ": " + ", ".join(failed) if failed else ""))
    return 1 if failed else 0


# --- the client side of a phase -------------------------------------------

def run_step(s, port, results):
    argv = [a.replace("{port}", str(port)) for a in s["argv"]]
    prefix = "[%s] " % s["name"]
    say(prefix + "$ " + shlex.join(argv))
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT,
                             start_new_session=True)
    except OSError as e:
        results[s["name"]] = ("cannot start: %s" % e, 0.0)
        return
    timer = threading.Timer(s["timeout"], p.kill)
    timer.start()
    try:
        for raw in iter(p.stdout.readline, b""):
            say(prefix + raw.decode("utf-8", "replace").rstrip("\r\n"))
        rc = p.wait()
    finally:
        timer.cancel()
    took = time.monotonic() - t0
    if rc == 0:
        why = ""
    elif took >= s["timeout"]:
        why = "killed after %.0f s" % s["timeout"]
    elif rc < 0:
        try:
            why = "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            why = "killed by signal %d" % -rc
    else:
        why = "exit status %d" % rc
    results[s["name"]] = (why, took)


def cmd_steps(args):
    with open(args.plan, encoding="utf-8") as f:
        groups = json.load(f)["groups"]
    results = {}
    order = []
    for group in groups:
        threads = []
        for s in group:
            order.append(s["name"])
            t = threading.Thread(target=run_step,
                                 args=(s, args.port, results), daemon=True)
            t.start()
            threads.append(t)
            time.sleep(0.2)  # the first (long) step is under way first
        for t in threads:
            t.join()
    failed = 0
    for name in order:
        why, took = results.get(name, ("did not run", 0.0))
        say("STEP %s %s (%.1f s)%s" % ("PASS" if not why else "FAIL", name,
                                       took, ": " + why if why else ""))
        failed += bool(why)
    say("%d steps passed, %d failed" % (len(order) - failed, failed))
    return 1 if failed else 0


# --- with-certs -------------------------------------------------------------

def cmd_with_certs(args):
    argv = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not argv:
        say("tls_interop: with-certs needs a command after --")
        return 2
    certs = make_certs(args.make_certs, args.keep_certs)
    try:
        argv = [a.replace("{certs}", certs) for a in argv]
        say("tls_interop: " + shlex.join(argv))
        return subprocess.run(argv, stdin=subprocess.DEVNULL).returncode
    finally:
        if not args.keep_certs:
            shutil.rmtree(certs, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pair", help="all phases for one client and server")
    p.add_argument("--server", required=True)
    p.add_argument("--client", required=True)
    p.add_argument("--make-certs", required=True)
    p.add_argument("--keep-certs", action="store_true")
    p.add_argument("--timeout", type=float, default=50.0,
                   help="seconds per phase for run_pair.py (default 50)")
    p.set_defaults(fn=cmd_pair)

    p = sub.add_parser("steps", help="(internal) one phase's clients")
    p.add_argument("plan")
    p.add_argument("--port", type=int, required=True)
    p.set_defaults(fn=cmd_steps)

    p = sub.add_parser("with-certs", help="run a command with {certs}")
    p.add_argument("--make-certs", required=True)
    p.add_argument("--keep-certs", action="store_true")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_with_certs)

    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
