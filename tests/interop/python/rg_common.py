"""Shared pieces of the grpcio RouteGuide interop peers: generated stubs,
the feature database, geometry, and the PASS/FAIL case runner."""

import json
import math
import os
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_PROTO_DIR = os.path.join(REPO, "examples", "route_guide", "protos")
DEFAULT_DB = os.path.join(REPO, "examples", "route_guide",
                          "route_guide_db.json")

EARTH_RADIUS_M = 6371000.0
COORD_FACTOR = 1e7


def load_stubs(gen_dir=None, proto_dir=None):
    """Imports route_guide_pb2 / _pb2_grpc from gen_dir, generating them
    there first (grpc_tools.protoc) when they are missing. Returns both."""
    proto_dir = proto_dir or DEFAULT_PROTO_DIR
    if gen_dir is None:
        # A private directory: concurrent runs never see half-written files.
        import atexit
        import shutil
        import tempfile
        gen_dir = tempfile.mkdtemp(prefix="tern-rg-py-")
        atexit.register(shutil.rmtree, gen_dir, True)
    os.makedirs(gen_dir, exist_ok=True)
    want = [os.path.join(gen_dir, n)
            for n in ("route_guide_pb2.py", "route_guide_pb2_grpc.py")]
    proto = os.path.join(proto_dir, "route_guide.proto")
    stale = any(not os.path.exists(w) or
                os.path.getmtime(w) < os.path.getmtime(proto) for w in want)
    if stale:
        from grpc_tools import protoc
        rc = protoc.main(["grpc_tools.protoc", "-I" + proto_dir,
                          "--python_out=" + gen_dir,
                          "--grpc_python_out=" + gen_dir, proto])
        if rc != 0:
            raise RuntimeError("grpc_tools.protoc failed with %d" % rc)
    if gen_dir not in sys.path:
        sys.path.insert(0, gen_dir)
    import route_guide_pb2
    import route_guide_pb2_grpc
    return route_guide_pb2, route_guide_pb2_grpc


def load_db(path=None):
    """The feature list: [(latitude, longitude, name), ...]."""
    with open(path or DEFAULT_DB, encoding="utf-8") as f:
        raw = json.load(f)
    return [(int(e["location"]["latitude"]), int(e["location"]["longitude"]),
             e.get("name", "")) for e in raw]


def find(db, lat, lon):
    """The first feature at (lat, lon), or None."""
    for f in db:
        if f[0] == lat and f[1] == lon:
            return f
    return None


def in_rect(lo_lat, lo_lon, hi_lat, hi_lon, lat, lon):
    """Inside the rectangle spanned by two corners in any order."""
    return (min(lo_lat, hi_lat) <= lat <= max(lo_lat, hi_lat) and
            min(lo_lon, hi_lon) <= lon <= max(lo_lon, hi_lon))


def distance_m(lat1, lon1, lat2, lon2):
    """Great-circle distance in metres between two E7 points (haversine)."""
    p1 = math.radians(lat1 / COORD_FACTOR)
    p2 = math.radians(lat2 / COORD_FACTOR)
    dp = math.radians((lat2 - lat1) / COORD_FACTOR)
    dl = math.radians((lon2 - lon1) / COORD_FACTOR)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * \
        math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.atan2(math.sqrt(h), math.sqrt(1 - h))


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class CheckFailed(Exception):
    pass


def check(cond, why):
    if not cond:
        raise CheckFailed(why)


class Runner:
    """Runs named cases; one `PASS name` / `FAIL name: why` line each,
    then `N passed, N failed`."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.lock = threading.Lock()

    def run(self, name, fn):
        start = time.monotonic()
        try:
            fn()
        except CheckFailed as e:
            self._fail(name, str(e))
            return
        except Exception as e:  # a case must never stop the run
            self._fail(name, "%s: %s" % (type(e).__name__, e))
            traceback.print_exc(file=sys.stderr)
            return
        with self.lock:
            self.passed += 1
        say("PASS %s (%.0f ms)" % (name, (time.monotonic() - start) * 1000))

    def skip(self, name, why):
        say("SKIP %s: %s" % (name, why))

    def _fail(self, name, why):
        with self.lock:
            self.failed += 1
        say("FAIL %s: %s" % (name, why.replace("\n", " ")))

    def finish(self):
        say("%d passed, %d failed" % (self.passed, self.failed))
        return 0 if self.failed == 0 and self.passed > 0 else 1
