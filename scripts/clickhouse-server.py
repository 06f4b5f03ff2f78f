#!/usr/bin/env python3
"""A local ClickHouse server from chdb's libchdb.so, for trying and testing learnpipe's server mode.

chdb (the optional npm package behind the in-process ClickHouse engine) ships ClickHouse itself as a
shared library. Its C entry point chdb_query_cmdline(argc, argv) runs clickhouse-local with
command-line arguments; clickhouse-local serves ClickHouse's real HTTP interface (the one
@clickhouse/client speaks) once a query says `SYSTEM START LISTEN HTTP`, for as long as that query
runs. This script writes a small config (port, users, optionally a one-shard cluster), starts
listening, and then keeps serving with a query that sleeps until the process is stopped.

    python3 scripts/clickhouse-server.py --port 8123 --data /tmp/ch
    LEARNPIPE_CLICKHOUSE_URL=http://127.0.0.1:8123 npx learnpipe run --engine clickhouse --no-ingest …

Options:
    --port N            HTTP port on 127.0.0.1 (default 8123; 0: a free one)
    --data DIR          data folder (databases, config, logs); default: a new temp folder
    --lib PATH          libchdb.so (default: resolved through node from chdb, as chdb itself loads it)
    --user NAME         also create user NAME, whose password is read from --password-env
    --password-env VAR  the environment variable holding that password (default LEARNPIPE_CLICKHOUSE_PASSWORD)
    --exit-with-parent  stop when the process that started this one exits (the tests' helper sets it)

It prints `ready http://127.0.0.1:PORT` on stdout once GET /ping answers. Stop it with Ctrl+C or
SIGTERM: ClickHouse dies with the process (the data folder stays; no shutdown work is needed for
a scratch server). The user `default` has no password; the server listens on 127.0.0.1 only.
"""
import argparse
import ctypes
import hashlib
import os
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
from xml.sax.saxutils import escape

# The npm packages holding libchdb.so per platform (as chdb's own loader, dist/loader.js, picks them).
PLATFORM_PACKAGES = {
    ("linux", "x86_64"): "@chdb/lib-linux-x64-gnu",
    ("linux", "aarch64"): "@chdb/lib-linux-arm64-gnu",
    ("darwin", "arm64"): "@chdb/lib-darwin-arm64",
    ("darwin", "x86_64"): "@chdb/lib-darwin-x64",
}

# Keeps the HTTP server up: one row per 3 s, for ~95,000 years (sleep limits lifted for this query only).
SERVE_FOREVER = (
    "SELECT sleepEachRow(3) FROM numbers(1000000000000) "
    "SETTINGS function_sleep_max_microseconds_per_block = 0, max_block_size = 1, max_execution_time = 0 FORMAT Null"
)


def find_lib() -> str:
    """libchdb.so through node's module resolution: chdb, then its platform package next to it."""
    pkg = PLATFORM_PACKAGES.get((sys.platform if sys.platform != "linux" else "linux", os.uname().machine))
    if not pkg:
        sys.exit(f"clickhouse-server: no chdb platform package for {sys.platform}/{os.uname().machine}")
    if not shutil.which("node"):
        sys.exit("clickhouse-server: node not found (needed to locate chdb); pass --lib /path/to/libchdb.so")
    js = (
        "const {createRequire}=require('module');"
        "const r=createRequire(process.cwd()+'/');"
        "const c=createRequire(r.resolve('chdb'));"
        f"console.log(require('path').dirname(c.resolve('{pkg}/package.json')))"
    )
    p = subprocess.run(["node", "-e", js], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"clickhouse-server: chdb is not installed here (npm install chdb, or npm run chdb in a learnpipe checkout), or {pkg} is missing")
    for name in ("libchdb.so", "libchdb.dylib"):
        f = os.path.join(p.stdout.strip(), name)
        if os.path.exists(f):
            return f
    sys.exit(f"clickhouse-server: no libchdb in {p.stdout.strip()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(data: str, port: int, user: str | None, password: str | None) -> str:
    """config.xml and users.xml in the data folder; returns the config's path."""
    users = [
        "<default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>"
        "<profile>default</profile><quota>default</quota></default>"
    ]
    if user:
        digest = hashlib.sha256((password or "").encode()).hexdigest()
        users.append(
            f"<{escape(user)}><password_sha256_hex>{digest}</password_sha256_hex><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>"
            f"<profile>default</profile><quota>default</quota></{escape(user)}>"
        )
    users_xml = os.path.join(data, "users.xml")
    with open(users_xml, "w") as f:
        f.write(f"<clickhouse><users>{''.join(users)}</users><profiles><default/></profiles><quotas><default/></quotas></clickhouse>\n")
    os.chmod(users_xml, 0o600)
    config = os.path.join(data, "config.xml")
    with open(config, "w") as f:
        f.write(
            "<clickhouse>\n"
            f"  <http_port>{port}</http_port>\n"
            "  <listen_host>127.0.0.1</listen_host>\n"
            # clickhouse-local reads users only from a users_xml directory (no SQL-managed users).
            f"  <user_directories><users_xml><path>{escape(users_xml)}</path></users_xml></user_directories>\n"
            "</clickhouse>\n"
        )
    return config


def watch_parent() -> None:
    """Exits (at once, as on SIGTERM) when the parent process is gone: no server outlives a killed test run."""
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def announce_when_ready(port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=1) as r:
                if r.status == 200:
                    print(f"ready {url}", flush=True)
                    return
        except OSError:
            pass
        time.sleep(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description="A local ClickHouse server from chdb's libchdb.so (see the file's docstring)")
    ap.add_argument("--port", type=int, default=8123)
    ap.add_argument("--data")
    ap.add_argument("--lib")
    ap.add_argument("--user")
    ap.add_argument("--password-env", default="LEARNPIPE_CLICKHOUSE_PASSWORD")
    ap.add_argument("--exit-with-parent", action="store_true")
    a = ap.parse_args()

    password = None
    if a.user and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", a.user):
        sys.exit(f"clickhouse-server: --user takes letters, digits and underscores: {a.user!r}")
    if a.user:
        password = os.environ.get(a.password_env)
        if password is None:
            sys.exit(f"clickhouse-server: --user {a.user} needs its password in ${a.password_env}")
    lib_path = a.lib or find_lib()
    data = os.path.abspath(a.data or tempfile.mkdtemp(prefix="learnpipe-clickhouse-"))
    os.makedirs(data, exist_ok=True)
    port = a.port or free_port()
    config = write_config(data, port, a.user, password)

    # Ctrl+C and SIGTERM end the process (Python's own handlers would wait for the library call to return).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if a.exit_with_parent:
        threading.Thread(target=watch_parent, daemon=True).start()
    threading.Thread(target=announce_when_ready, args=(port,), daemon=True).start()

    lib = ctypes.CDLL(lib_path)
    lib.chdb_query_cmdline.restype = ctypes.c_void_p
    lib.chdb_result_error.restype = ctypes.c_char_p
    lib.chdb_result_error.argtypes = [ctypes.c_void_p]
    args = [
        "clickhouse-local",
        f"--config-file={config}",
        f"--path={os.path.join(data, 'db')}",
        "--multiquery",
        f"--query=SYSTEM START LISTEN HTTP; {SERVE_FOREVER}",
    ]
    argv = (ctypes.c_char_p * len(args))(*[x.encode() for x in args])
    # ctypes releases the GIL during the call: the watcher threads keep running while ClickHouse serves.
    r = lib.chdb_query_cmdline(len(args), argv)
    err = lib.chdb_result_error(r) if r else None
    sys.exit(f"clickhouse-server: ClickHouse stopped: {err.decode(errors='replace').strip() if err else 'no error'}")


if __name__ == "__main__":
    main()
