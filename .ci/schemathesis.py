#!/usr/bin/env python3
"""Fuzz the running service against its own OpenAPI document with schemathesis.

For each backend (SQLite + in-process, then PostgreSQL + Redis when their URLs are given) this
starts a Cliniko sandbox and a ClinicGate on free loopback ports, signs a clinic up, connects it
to one of the sandbox's demo keys, creates an API client with every scope, and runs schemathesis
three ways:

  bearer  — a fresh access token over /api/public and /api/auth (revoke excluded: it would end
            the run's own token);
  session — a staff session (cookie + Origin + the clinic's Host) over /api/tenant;
  anonymous — no credentials, over every operation of the root host.

Any finding fails the run (exit 1). Every process started here is stopped, and the PostgreSQL
database and Redis keys created here are removed, whatever happens.

Usage: schemathesis.py --binary target/debug/clinicgate --schemathesis VENV/bin/schemathesis
       [--postgres postgres://postgres@127.0.0.1:5432/postgres --redis redis://127.0.0.1:6379]
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"
SEED = "20261204"
SCOPES = [
    "doctors:read",
    "slots:read",
    "appointments:read",
    "appointments:write",
    "patients:read",
    "patients:write",
    "webhooks:manage",
]
PASSWORD = "schemathesis-runs-in-ci-2026"


def log(message):
    print(f"[schemathesis {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(stack, argv, env, log_path):
    """Starts a process in its own group; the stack stops it (TERM, then KILL) on exit."""
    out = open(log_path, "wb")
    stack.callback(out.close)
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def stop():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    stack.callback(stop)
    return proc


def wait_for(proc, log_path, condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.stdout.write(Path(log_path).read_text(errors="replace")[-4000:])
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within {timeout} s")


def call(method, url, host=None, body=None, headers=None, form=False):
    """One HTTP call; answers (status, headers, parsed JSON or None)."""
    headers = dict(headers or {})
    data = None
    if body is not None:
        if form:
            data = "&".join(f"{k}={v}" for k, v in body.items()).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    if host:
        headers["Host"] = host
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, head, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        status, head, raw = err.code, err.headers, err.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return status, head, parsed


def expect(what, status, wanted, body):
    if status != wanted:
        raise RuntimeError(f"{what}: expected {wanted}, got {status}: {body}")


class Deployment:
    """One ClinicGate (and its Cliniko sandbox) on one backend, set up with a clinic."""

    def __init__(self, stack, args, name, workdir, database_url=None, redis_url=None):
        self.name = name
        sandbox_log = workdir / "sandbox.log"
        sandbox = start(
            stack,
            [args.binary, "cliniko-sandbox", "--port", "0"],
            dict(os.environ, RUST_LOG="warn"),
            sandbox_log,
        )

        def sandbox_url():
            found = re.search(r"CLINICGATE_CLINIKO__BASE_URL=(\S+)", sandbox_log.read_text(errors="replace"))
            return found and found.group(1)

        cliniko_base = wait_for(sandbox, sandbox_log, sandbox_url, "the Cliniko sandbox")
        sandbox_root = cliniko_base.split("/{shard}")[0]

        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.root_host = f"localhost:{port}"
        self.clinic_host = f"schemathesis.localhost:{port}"
        env = dict(
            os.environ,
            CLINICGATE_BIND=f"127.0.0.1:{port}",
            CLINICGATE_PUBLIC_URL=f"http://localhost:{port}",
            CLINICGATE_DATA_DIR=str(workdir / "data"),
            CLINICGATE_CLINIKO__BASE_URL=cliniko_base,
            CLINICGATE_CLINIKO__USER_AGENT="ClinicGate CI (ci@clinicgate.example)",
            CLINICGATE_OUTBOUND__ALLOWED_NETWORKS="127.0.0.0/8",
            CLINICGATE_LOG__FORMAT="json",
            RUST_LOG="warn",
        )
        for key in ("CLINICGATE_DATABASE_URL", "CLINICGATE_REDIS_URL", "CLINICGATE_CONFIG"):
            env.pop(key, None)
        if database_url:
            env["CLINICGATE_DATABASE_URL"] = database_url
        if redis_url:
            env["CLINICGATE_REDIS_URL"] = redis_url
            env["CLINICGATE_REDIS__KEY_PREFIX"] = args.redis_prefix
        self.log_path = workdir / "clinicgate.log"
        self.proc = start(stack, [args.binary, "serve"], env, self.log_path)

        def ready():
            try:
                return call("GET", f"{self.base}/readyz", host=self.root_host)[0] == 200
            except OSError:
                return False

        wait_for(self.proc, self.log_path, ready, "clinicgate", timeout=90)
        self.set_up_clinic(sandbox_root)

    def set_up_clinic(self, sandbox_root):
        email = "owner@schemathesis.example"
        status, _, body = call(
            "POST",
            f"{self.base}/api/signup",
            host=self.root_host,
            body={"clinic_name": "Schemathesis Physio", "subdomain": "schemathesis", "email": email, "password": PASSWORD},
        )
        expect("sign-up", status, 201, body)
        origin = {"Origin": f"http://{self.clinic_host}"}
        status, head, body = call(
            "POST",
            f"{self.base}/api/session",
            host=self.clinic_host,
            body={"email": email, "password": PASSWORD},
            headers=origin,
        )
        expect("login", status, 200, body)
        cookie = head["Set-Cookie"].split(";")[0]
        self.session_headers = {"Cookie": cookie, **origin}

        _, _, keys = call("GET", f"{sandbox_root}/__sandbox/keys")
        key = next(k["key"] for k in keys["keys"] if k["role"] == "administrator")
        status, _, body = call(
            "PUT",
            f"{self.base}/api/tenant/cliniko-key",
            host=self.clinic_host,
            body={"api_key": key},
            headers=self.session_headers,
        )
        expect("connecting Cliniko", status, 200, body)
        status, _, client = call(
            "POST",
            f"{self.base}/api/tenant/clients",
            host=self.clinic_host,
            body={"name": "schemathesis", "scopes": SCOPES, "rate_limit_per_minute": 1_000_000},
            headers=self.session_headers,
        )
        expect("creating an API client", status, 201, client)
        status, _, token = call(
            "POST",
            f"{self.base}/api/auth/token",
            host=self.root_host,
            body={"grant_type": "client_credentials", "client_id": client["client_id"], "client_secret": client["client_secret"]},
            form=True,
        )
        expect("issuing a token", status, 200, token)
        self.token = token["access_token"]

    def document(self, path):
        status, _, body = call("GET", f"{self.base}/openapi.json", host=self.root_host)
        expect("the OpenAPI document", status, 200, body)
        path.write_text(json.dumps(body))
        return path


def fuzz(args, deployment, schema, way, host, headers, filters):
    """One schemathesis run. It runs in the deployment's scratch folder: schemathesis keeps a
    cache of past failures in `.schemathesis/` under its working directory, and a run must
    neither depend on an earlier one nor leave files in the checkout."""
    argv = [
        args.schemathesis,
        "run",
        str(schema),
        "--url",
        deployment.base,
        "--checks",
        CHECKS,
        "--seed",
        SEED,
        "--max-time",
        str(args.max_time),
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "--no-color",
        "-H",
        f"Host: {host}",
        *filters,
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    log(f"{deployment.name}: {way}")
    started = time.monotonic()
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, cwd=schema.parent)
    log(f"{deployment.name}: {way} finished in {time.monotonic() - started:.0f} s (exit {result.returncode})")
    return result.returncode == 0


def run_backend(args, name, database_url=None, redis_url=None):
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="cg-schemathesis-") as tmp:
        workdir = Path(tmp)
        ok = False
        try:
            deployment = Deployment(stack, args, name, workdir, database_url, redis_url)
            schema = deployment.document(workdir / "openapi.json")
            results = [
                fuzz(
                    args,
                    deployment,
                    schema,
                    "bearer token over /api/public and /api/auth",
                    deployment.root_host,
                    {"Authorization": f"Bearer {deployment.token}"},
                    ["--include-path-regex", "^/api/(public|auth)/", "--exclude-path", "/api/auth/revoke"],
                ),
                fuzz(
                    args,
                    deployment,
                    schema,
                    "staff session over /api/tenant",
                    deployment.clinic_host,
                    deployment.session_headers,
                    ["--include-path-regex", "^/api/tenant"],
                ),
                fuzz(
                    args,
                    deployment,
                    schema,
                    "unauthenticated over the root host",
                    deployment.root_host,
                    {},
                    ["--exclude-path-regex", "^/api/(tenant|session)"],
                ),
            ]
            ok = all(results)
        finally:
            if not ok:
                log(f"{name}: last lines of the ClinicGate log")
                path = workdir / "clinicgate.log"
                if path.exists():
                    sys.stdout.write("".join(path.read_text(errors="replace").splitlines(True)[-40:]))
        return ok


def postgres_database(admin_url, name):
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def psql(admin_url, sql):
    subprocess.run(["psql", admin_url, "-qtAc", sql], check=True)


def drop_redis_keys(redis_url, prefix):
    parts = urlsplit(redis_url)
    cli = ["redis-cli", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379)]
    keys = subprocess.run([*cli, "--scan", "--pattern", f"{prefix}*"], check=True, capture_output=True, text=True)
    names = keys.stdout.split()
    for start_at in range(0, len(names), 500):
        subprocess.run([*cli, "DEL", *names[start_at : start_at + 500]], check=True, capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--schemathesis", required=True)
    parser.add_argument("--postgres", help="an administrative PostgreSQL URL (a database is created and dropped)")
    parser.add_argument("--redis", help="a Redis URL (keys live under a fresh prefix, removed afterwards)")
    parser.add_argument("--max-time", type=int, default=25, help="seconds per schemathesis run")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="run one backend")
    args = parser.parse_args()
    args.binary = str(Path(args.binary).resolve())
    args.redis_prefix = f"cg-schemathesis-{os.getpid()}"

    results = {}
    if args.only in (None, "sqlite"):
        results["SQLite + in-process"] = run_backend(args, "SQLite + in-process")
    if args.only in (None, "postgres"):
        if not (args.postgres and args.redis):
            parser.error("--postgres and --redis are required for the PostgreSQL + Redis run")
        database = f"cg_schemathesis_{os.getpid()}"
        psql(args.postgres, f"CREATE DATABASE {database}")
        try:
            results["PostgreSQL + Redis"] = run_backend(
                args, "PostgreSQL + Redis", postgres_database(args.postgres, database), args.redis
            )
        finally:
            psql(args.postgres, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            drop_redis_keys(args.redis, args.redis_prefix)

    for name, ok in results.items():
        log(f"{name}: {'clean' if ok else 'FINDINGS'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
