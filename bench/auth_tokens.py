#!/usr/bin/env python3
"""Throughput and latency of token validation and of an authenticated public API call, with nginx
measured in the same run, alternating, on the same machine (wrk on loopback).

  python3 bench/auth_tokens.py [--duration 10] [--rounds 3] [--connections 64] [--threads 2]
                               [--redis redis://127.0.0.1:6379] [--log-level info]

Targets, each hit by `wrk -t{threads} -c{connections} -d{duration}s --latency`:
  nginx-200     nginx `return 200;` (the peer of validate)
  validate      ClinicGate GET /api/auth/validate with a bearer token
  nginx-proxy   nginx reverse-proxying (keep-alive upstream) to nginx serving a static file
                (the peer of the public call)
  public-me     ClinicGate GET /api/public/me: the full public-API door (token; revocation and
                client state read through Redis client-side caching; the client's rate limit in
                Redis, leased a tenth of a second at a time), then a no-op handler
  cg-healthz    ClinicGate GET /healthz: no authentication, no Redis (the framework's own cost,
                for reading the two above)

ClinicGate runs the release build with its production defaults (2 HTTP workers, JSON request log
at info, written to /dev/null), SQLite, and Redis for revocations, client state and rate limits.
The API client's limit is set far above what the run can reach, so every request goes through the
limiter and none is refused. nginx runs 2 workers, access log off.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "clinicgate"
PASSWORD = "correct horse battery staple 42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, host, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    all_headers = {"Host": host, "Accept": "application/json"}
    if body is not None:
        all_headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    all_headers.update(headers or {})
    connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    data = response.read()
    return response.status, response.getheaders(), data


def wait_ready(port, path, host, limit=30.0):
    started = time.time()
    while time.time() - started < limit:
        try:
            if call(port, "GET", path, host)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"not ready on :{port}{path}")


def start_nginx(workdir: Path) -> tuple[subprocess.Popen, int, int]:
    plain, proxy, upstream = free_port(), free_port(), free_port()
    static = workdir / "static"
    static.mkdir()
    (static / "me.json").write_text('{"ok":true}\n')
    config = workdir / "nginx.conf"
    config.write_text(f"""
worker_processes 2;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/body;
  proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fastcgi;
  uwsgi_temp_path {workdir}/uwsgi;
  scgi_temp_path {workdir}/scgi;
  upstream static_upstream {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{ listen 127.0.0.1:{plain}; location / {{ return 200; }} }}
  server {{
    listen 127.0.0.1:{proxy};
    location / {{
      proxy_pass http://static_upstream/me.json;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
  server {{ listen 127.0.0.1:{upstream}; root {static}; }}
}}
""")
    process = subprocess.Popen(["nginx", "-c", str(config), "-p", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(plain, "/", "localhost")
    wait_ready(proxy, "/", "localhost")
    return process, plain, proxy


def start_clinicgate(workdir: Path, redis: str, log_level: str,
                     extra_env: dict | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICGATE_")}
    env.update({
        "CLINICGATE_BIND": f"127.0.0.1:{port}",
        "CLINICGATE_PUBLIC_URL": f"http://localhost:{port}",
        "CLINICGATE_DATA_DIR": str(workdir / "data"),
        "CLINICGATE_REDIS_URL": redis,
        "CLINICGATE_REDIS__KEY_PREFIX": f"cgbench:{uuid.uuid4().hex}",
        "CLINICGATE_LOG__FORMAT": "json",
        "RUST_LOG": log_level,
    })
    env.update(extra_env or {})
    process = subprocess.Popen([str(BINARY), "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port, "/readyz", "localhost")
    return process, port


def access_token(port: int, cliniko_key: str | None = None) -> str:
    """A token of a new clinic's API client (doctors:read); the clinic connects `cliniko_key`
    first when given."""
    root = f"localhost:{port}"
    clinic = f"bench.localhost:{port}"
    origin = {"Origin": f"http://{clinic}"}
    status, _, body = call(port, "POST", "/api/signup", root, {
        "clinic_name": "Bench", "subdomain": "bench",
        "email": "owner@bench.example.com", "password": PASSWORD})
    assert status == 201, body
    status, headers, body = call(port, "POST", "/api/session", clinic,
                                 {"email": "owner@bench.example.com", "password": PASSWORD}, origin)
    assert status == 200, body
    cookie = next(v.split(";")[0] for k, v in headers if k.lower() == "set-cookie")
    if cliniko_key:
        status, _, body = call(port, "PUT", "/api/tenant/cliniko-key", clinic,
                               {"api_key": cliniko_key}, {**origin, "Cookie": cookie})
        assert status == 200, body
    status, _, body = call(port, "POST", "/api/tenant/clients", clinic, {
        "name": "Benchmark", "scopes": ["doctors:read"], "rate_limit_per_minute": 10_000_000},
        {**origin, "Cookie": cookie})
    assert status == 201, body
    client = json.loads(body)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    form = f"grant_type=client_credentials&client_id={client['client_id']}&client_secret={client['client_secret']}"
    connection.request("POST", "/api/auth/token", body=form,
                       headers={"Host": root, "Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    assert response.status == 200
    return json.loads(response.read())["access_token"]


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, host: str, token: str | None, args) -> dict:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
               "--latency", "-H", f"Host: {host}"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = {}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", output).groups()
        latency[pct] = float(value) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {"rps": rps, "p50_ms": latency["50"], "p99_ms": latency["99"],
            "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def parse_args() -> argparse.Namespace:
    """The options every wrk-against-nginx benchmark takes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args()


def prepared() -> bool:
    """wrk and nginx are installed and the release binary is built (building it if missing)."""
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            print(f"{tool} is missing: apt-get install -y {tool}", file=sys.stderr)
            return False
    if not BINARY.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "clinicgate-api", "--bin", "clinicgate"],
                       cwd=ROOT, check=True)
    return True


def run_rounds(targets, args) -> dict:
    """Runs wrk on each `(name, url, host, bearer)` target in turn, `args.rounds` times, printing
    each run and then the table of medians; returns `{name: {"rps", "p50_ms", "p99_ms"}}`."""
    results = {name: [] for name, *_ in targets}
    for round_ in range(1, args.rounds + 1):
        for name, url, host, bearer in targets:
            result = wrk(url, host, bearer, args)
            results[name].append(result)
            print(f"round {round_} {name:15} {result['rps']:10.0f} req/s  p50 {result['p50_ms']:.2f} ms"
                  f"  p99 {result['p99_ms']:.2f} ms  non-2xx {result['non_2xx']} {result['socket_errors']}",
                  flush=True)
    median = {name: {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50_ms", "p99_ms")}
              for name, runs in results.items()}
    print()
    print("| target | req/s (median) | p50 | p99 | non-2xx |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        m = median[name]
        print(f"| {name} | {m['rps']:.0f} | {m['p50_ms']:.2f} ms | {m['p99_ms']:.2f} ms | "
              f"{sum(r['non_2xx'] for r in runs)} |")
    print()
    return median


def stop(processes, workdir: Path) -> None:
    """Stops the benchmark's processes (SIGTERM, then SIGKILL after 20 s) and removes its files."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    args = parse_args()
    if not prepared():
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    workdir.chmod(0o755)  # nginx workers (not root) read the static file under it
    processes = []
    try:
        nginx, plain, proxy = start_nginx(workdir)
        processes.append(nginx)
        clinicgate, port = start_clinicgate(workdir, args.redis, args.log_level)
        processes.append(clinicgate)
        token = access_token(port)
        targets = [
            ("nginx-200", f"http://127.0.0.1:{plain}/", "localhost", None),
            ("validate", f"http://127.0.0.1:{port}/api/auth/validate", f"localhost:{port}", token),
            ("nginx-proxy", f"http://127.0.0.1:{proxy}/", "localhost", None),
            ("public-me", f"http://127.0.0.1:{port}/api/public/me", f"localhost:{port}", token),
            ("cg-healthz", f"http://127.0.0.1:{port}/healthz", f"localhost:{port}", None),
        ]
        median = run_rounds(targets, args)
        print(f"validate / nginx-200:     {median['validate']['rps'] / median['nginx-200']['rps']:.2f}x (target >= 0.5x)")
        print(f"public-me / nginx-proxy:  {median['public-me']['rps'] / median['nginx-proxy']['rps']:.2f}x (target >= 1.0x)")
        print(f"public-me p99:            {median['public-me']['p99_ms']:.2f} ms (target <= 5 ms at {args.connections} connections)")
        return 0
    finally:
        stop(processes, workdir)


if __name__ == "__main__":
    sys.exit(main())
