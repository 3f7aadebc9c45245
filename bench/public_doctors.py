#!/usr/bin/env python3
"""Throughput and latency of GET /api/public/doctors served from cache — with token validation,
the client's rate limit and tenant resolution on — against nginx reverse-proxying a static JSON
file of the same size, alternating in one run, on the same machine (wrk on loopback).

  python3 bench/public_doctors.py [--duration 10] [--rounds 3] [--connections 64] [--threads 2]
                                  [--redis redis://127.0.0.1:6379] [--log-level info]
                                  [--binary target/release/clinicgate] [--workers 0] [--pin]

Set-up: the release `clinicgate` binary with its production defaults (2 HTTP workers, JSON
request log at info to /dev/null, SQLite, Redis for revocations, client state, rate limits and the
Cliniko reference cache), its Cliniko sandbox (`clinicgate cliniko-sandbox`) as the clinic's
Cliniko, one clinic connected to the sandbox's au1 account, one API client (doctors:read, limit
far above what the run reaches so every request goes through the limiter and none is refused).
The first request fills the directory cache; the body it returns is written as nginx's static
file, so both sides send the same bytes. Cliniko calls made during the measured run are counted
from the sandbox (expected: none; reference data is cached for cliniko.cache_ttl_secs).

Targets, each hit by `wrk -t{threads} -c{connections} -d{duration}s --latency`, alternating:
  nginx-proxy     nginx (2 workers, access log off) reverse-proxying with keep-alive to nginx
                  serving the static copy of the doctors JSON
  public-doctors  ClinicGate GET /api/public/doctors with a bearer token
  public-me       ClinicGate GET /api/public/me (reference: the door alone, no-op handler)

Helpers (nginx, ClinicGate start-up, token, wrk parsing) come from bench/auth_tokens.py.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import auth_tokens  # noqa: E402  (BINARY and the CPU pinning are set by parse_args)
from auth_tokens import (access_token, call, free_port, parse_args,  # noqa: E402
                         prepared, run_rounds, start_clinicgate, start_nginx, stop,
                         wait_ready)


def start_sandbox() -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICGATE_")}
    command = [str(auth_tokens.BINARY), "cliniko-sandbox", "--port", str(port)]
    process = subprocess.Popen(auth_tokens.pinned(command, auth_tokens.SERVER_CPUS), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port, "/__sandbox/keys", "127.0.0.1")
    return process, port


def sandbox_key(port: int) -> str:
    keys = json.loads(call(port, "GET", "/__sandbox/keys", "127.0.0.1")[2])["keys"]
    return next(k["key"] for k in keys if k["shard"] == "au1" and k["role"] == "administrator")


def cliniko_calls(port: int) -> int:
    stats = json.loads(call(port, "GET", "/__sandbox/stats", "127.0.0.1")[2])
    return sum(account["accepted"] for account in stats["accounts"].values())


def main() -> int:
    args = parse_args()
    if not prepared():
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    workdir.chmod(0o755)  # nginx workers (not root) read the static file under it
    processes = []
    try:
        nginx, _, proxy = start_nginx(workdir)
        processes.append(nginx)
        sandbox, sandbox_port = start_sandbox()
        processes.append(sandbox)
        clinicgate, port = start_clinicgate(workdir, args.redis, args.log_level, {
            "CLINICGATE_CLINIKO__BASE_URL": f"http://127.0.0.1:{sandbox_port}/{{shard}}/v1",
            "CLINICGATE_CLINIKO__USER_AGENT": "ClinicGate Bench (bench@clinicgate.dev)",
        }, workers=args.workers)
        processes.append(clinicgate)
        token = access_token(port, cliniko_key=sandbox_key(sandbox_port))
        host = f"localhost:{port}"
        status, _, body = call(port, "GET", "/api/public/doctors", host,
                               headers={"Authorization": f"Bearer {token}"})
        assert status == 200, body
        assert len(json.loads(body)["data"]) > 0, body
        # nginx serves the same bytes (its static file is read per request).
        (workdir / "static" / "me.json").write_bytes(body)
        status, _, proxied = call(proxy, "GET", "/", "localhost")
        assert status == 200 and proxied == body
        print(f"doctors body: {len(body)} bytes, {len(json.loads(body)['data'])} doctors", flush=True)

        calls_before = cliniko_calls(sandbox_port)
        targets = [
            ("nginx-proxy", f"http://127.0.0.1:{proxy}/", "localhost", None, nginx.pid),
            ("public-doctors", f"http://127.0.0.1:{port}/api/public/doctors", host, token,
             clinicgate.pid),
            # Reference: the same door (token, client state, rate limit) with a no-op handler.
            ("public-me", f"http://127.0.0.1:{port}/api/public/me", host, token, clinicgate.pid),
        ]
        median = run_rounds(targets, args)
        calls_during = cliniko_calls(sandbox_port) - calls_before
        ratio = median['public-doctors']['rps'] / median['nginx-proxy']['rps']
        print(f"public-doctors / nginx-proxy: {ratio:.2f}x (target >= 1.0x)")
        print(f"public-doctors p99:           {median['public-doctors']['p99_ms']:.2f} ms "
              f"(target <= 5 ms at {args.connections} connections)")
        print(f"Cliniko calls during the run: {calls_during}")
        return 0
    finally:
        stop(processes, workdir)


if __name__ == "__main__":
    sys.exit(main())
