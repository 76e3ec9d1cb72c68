"""Shared pieces of the grpcio peers for grpc's official interop cases
(grpc.testing.TestService): generated stubs, flag parsing, constants.

The stubs come from Debian's grpc-proto (/usr/share/grpc-proto). protoc
names their Python modules `grpc.testing.*`, inside grpcio's own `grpc`
package; `load_stubs` makes that importable by adding the generated
`grpc/` folder to `grpc.__path__` (grpcio itself has no `grpc.testing`).
"""

import os
import sys

PROTO_ROOT = "/usr/share/grpc-proto"
PROTOS = ("grpc/testing/empty.proto", "grpc/testing/messages.proto",
          "grpc/testing/test.proto")
GENERATED = ("empty_pb2.py", "messages_pb2.py", "test_pb2.py",
             "test_pb2_grpc.py")

ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"

# grpcio cannot tell whether a received message had the compressed flag
# set (neither the flag nor the grpc-encoding header reaches the
# application, on either side).
NO_FLAG_ACCESS = ("grpcio does not expose the compressed flag of a received "
                  "message (nor the grpc-encoding header)")


def parse_bool(text):
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a boolean: %r" % text)


def _stale(gen_dir, proto_root):
    newest = max(os.path.getmtime(os.path.join(proto_root, p))
                 for p in PROTOS)
    for name in GENERATED:
        path = os.path.join(gen_dir, "grpc", "testing", name)
        if not os.path.exists(path) or os.path.getmtime(path) < newest:
            return True
    return False


def generate(gen_dir, proto_root=PROTO_ROOT):
    """Runs grpc_tools.protoc on the three protos into gen_dir."""
    from grpc_tools import protoc
    os.makedirs(gen_dir, exist_ok=True)
    argv = ["grpc_tools.protoc", "-I" + proto_root,
            "--python_out=" + gen_dir, "--grpc_python_out=" + gen_dir]
    argv += [os.path.join(proto_root, p) for p in PROTOS]
    rc = protoc.main(argv)
    if rc != 0:
        raise RuntimeError("grpc_tools.protoc failed with status %d" % rc)


def load_stubs(gen_dir=None, proto_root=PROTO_ROOT):
    """Returns (empty_pb2, messages_pb2, test_pb2_grpc). Without gen_dir
    the stubs are generated into a private temporary folder; with one,
    they are generated there only when missing or older than the protos."""
    if gen_dir is None:
        import atexit
        import shutil
        import tempfile
        gen_dir = tempfile.mkdtemp(prefix="tern-interop-py-")
        atexit.register(shutil.rmtree, gen_dir, True)
    gen_dir = os.path.abspath(gen_dir)
    if _stale(gen_dir, proto_root):
        generate(gen_dir, proto_root)
    import grpc
    pkg = os.path.join(gen_dir, "grpc")
    if pkg not in grpc.__path__:
        grpc.__path__.append(pkg)
    from grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc
    return empty_pb2, messages_pb2, test_pb2_grpc


def status_code(number):
    """grpc.StatusCode for a numeric code (UNKNOWN when out of range)."""
    import grpc
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
