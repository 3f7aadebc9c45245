#!/usr/bin/env python3
"""Webhook fan-out: how fast two ClinicGate instances (PostgreSQL + Redis) deliver one clinic's
events to 50 endpoints on a local receiver (nginx `return 204`), against the rate wrk POSTs the
same signed body to the same receiver, in one run; then one instance is SIGKILLed mid-run.

  python3 bench/webhooks_fanout.py [--endpoints 50] [--seconds 30] [--throughput-rate 80]
                                   [--latency-rate 10] [--kill-rate 20] [--drain 180]
                                   [--env NAME=VALUE …]
                                   [--database postgres://postgres@127.0.0.1:5432]
                                   [--redis redis://127.0.0.1:6379]

Set-up: a fresh PostgreSQL database, one Redis key prefix, the release `clinicgate` binary twice
(2 HTTP workers each, request log at warn), nginx answering 204 to every POST and logging
`$uri $http_webhook_id` so the receiver's side can be counted independently of ClinicGate's
records. A clinic signs up, creates an API client (appointments:read webhooks:manage) and
registers `--endpoints` endpoints subscribed to appointment.created through the public API. The
load generator (`cargo run --release --example webhooks_fanout`) publishes events through the
same publisher a serving instance uses; every event fans out to every endpoint.

Phases (each waits until nothing is pending, then reads the database and nginx's log):
  throughput  --throughput-rate events/s for --seconds: sustained deliveries/s (delivered ÷ time
              from the first delivery's creation to the last one's delivery)
  latency     --latency-rate events/s (x endpoints = deliveries/s): p50/p99 from the event's
              publication (its deliveries' created_at) to delivered (finished_at)
  kill        --kill-rate events/s; instance B is SIGKILLed a third of the way in and started
              again two thirds in: lost = deliveries nginx never received; duplicated = messages
              received more than once (only the attempts in flight at the kill may repeat)
  wrk         wrk -t2 -c64 POSTing one signed body of the same size to the receiver
"""

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import auth_tokens  # noqa: E402
from auth_tokens import PASSWORD, call, free_port, host_summary, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Where `cargo build` below puts it, CARGO_TARGET_DIR included.
GENERATOR = (Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")).resolve()
             / "release" / "examples" / "webhooks_fanout")


def psql(database_url: str, sql: str) -> str:
    return subprocess.run(["psql", database_url, "-tAc", sql], capture_output=True, text=True,
                          check=True).stdout.strip()


def start_receiver(workdir: Path) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    log = workdir / "received.log"
    config = workdir / "nginx.conf"
    config.write_text(f"""
worker_processes 2;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  log_format hooks '$uri $http_webhook_id';
  client_body_temp_path {workdir}/body;
  proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fastcgi;
  uwsgi_temp_path {workdir}/uwsgi;
  scgi_temp_path {workdir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 100000;
    location /hook/ {{ access_log {log} hooks buffer=256k flush=1s; return 204; }}
    location / {{ access_log off; return 200; }}
  }}
}}
""")
    process = subprocess.Popen(["nginx", "-c", str(config), "-p", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port, "/", "localhost")
    return process, port, log


def instance_env(workdir: Path, database_url: str, redis: str, prefix: str, master_key: str,
                 port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICGATE_")}
    env.update({
        "CLINICGATE_BIND": f"127.0.0.1:{port}",
        "CLINICGATE_PUBLIC_URL": f"http://localhost:{port}",
        "CLINICGATE_DATA_DIR": str(workdir / f"data-{port}"),
        "CLINICGATE_DATABASE_URL": database_url,
        "CLINICGATE_REDIS_URL": redis,
        "CLINICGATE_REDIS__KEY_PREFIX": prefix,
        "CLINICGATE_MASTER_KEY": master_key,
        "CLINICGATE_OUTBOUND__ALLOWED_NETWORKS": "127.0.0.0/8",
        "CLINICGATE_OUTBOUND__ALLOW_HTTP": "true",
        # A killed instance's claims are taken over after 20 s rather than 60.
        "CLINICGATE_EVENTS__DELIVERY_LEASE_SECS": "20",
        "CLINICGATE_LOG__FORMAT": "json",
        "CLINICGATE_HTTP__WORKERS": "2",
        "RUST_LOG": "warn",
    })
    return env


def start_instance(env: dict) -> subprocess.Popen:
    log = open(Path(env["CLINICGATE_DATA_DIR"] + ".log"), "ab")
    process = subprocess.Popen([str(auth_tokens.BINARY), "serve"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    port = int(env["CLINICGATE_BIND"].rsplit(":", 1)[1])
    wait_ready(port, "/readyz", "localhost")
    return process


def token(port: int) -> str:
    root, clinic = f"localhost:{port}", f"bench.localhost:{port}"
    origin = {"Origin": f"http://{clinic}"}
    status, _, body = call(port, "POST", "/api/signup", root, {
        "clinic_name": "Bench", "subdomain": "bench",
        "email": "owner@bench.example.com", "password": PASSWORD})
    assert status == 201, body
    status, headers, body = call(port, "POST", "/api/session", clinic,
                                 {"email": "owner@bench.example.com", "password": PASSWORD}, origin)
    assert status == 200, body
    cookie = next(v.split(";")[0] for k, v in headers if k.lower() == "set-cookie")
    status, _, body = call(port, "POST", "/api/tenant/clients", clinic, {
        "name": "Fan-out", "scopes": ["appointments:read", "webhooks:manage"],
        "rate_limit_per_minute": 1_000_000}, {**origin, "Cookie": cookie})
    assert status == 201, body
    client = json.loads(body)
    form = (f"grant_type=client_credentials&client_id={client['client_id']}"
            f"&client_secret={client['client_secret']}")
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/api/auth/token", body=form,
                       headers={"Host": root, "Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    assert response.status == 200
    return json.loads(response.read())["access_token"]


def register(port: int, bearer: str, receiver: int, count: int) -> None:
    for i in range(count):
        status, _, body = call(port, "POST", "/api/public/webhooks", f"localhost:{port}", {
            "url": f"http://127.0.0.1:{receiver}/hook/{i}",
            "event_types": ["appointment.created"]}, {"Authorization": f"Bearer {bearer}"})
        assert status == 201, body


def generate(env: dict, rate: float, seconds: int) -> dict:
    output = subprocess.run([str(GENERATOR), "--subdomain", "bench", "--rate", str(rate),
                             "--seconds", str(seconds)], env=env, capture_output=True, text=True,
                            check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def drain(database_url: str, limit: float) -> None:
    started = time.time()
    while time.time() - started < limit:
        if psql(database_url, "SELECT count(*) FROM deliveries WHERE status = 'pending'") == "0":
            return
        time.sleep(0.5)
    summary = psql(database_url, """
        SELECT d.status, a.status_code, a.error_class, count(*), min(d.next_attempt_at),
               max(d.lease_until), now() FROM deliveries d
        LEFT JOIN delivery_attempts a ON a.delivery_id = d.id GROUP BY 1, 2, 3""")
    raise RuntimeError(f"deliveries still pending:\n{summary}")


def phase_stats(database_url: str, since: str) -> dict:
    row = psql(database_url, f"""
        SELECT count(*) FILTER (WHERE status = 'delivered'),
               count(*) FILTER (WHERE status <> 'delivered'),
               extract(epoch FROM max(finished_at) - min(created_at)),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at))
        FROM deliveries WHERE created_at >= '{since}'""")
    delivered, other, span, p50, p99 = row.split("|")
    delivered = int(delivered)
    return {"delivered": delivered, "not_delivered": int(other),
            "deliveries_per_s": delivered / float(span) if span else 0.0,
            "p50_ms": float(p50) * 1000 if p50 else None,
            "p99_ms": float(p99) * 1000 if p99 else None}


def received(log: Path, offset: int) -> tuple[Counter, int]:
    time.sleep(1.5)  # nginx flushes its log buffer every second
    with log.open() as lines:
        lines.seek(offset)
        counts = Counter(line.strip() for line in lines if line.strip())
        return counts, lines.tell()


def wrk_post(receiver: int, body_size: int, workdir: Path, seconds: int) -> float:
    body = json.dumps({"type": "appointment.created", "timestamp": "2030-05-20T23:00:00.000Z",
                       "data": {"pad": "x" * max(0, body_size - 80)}})
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = {json.dumps(body)}\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["webhook-id"] = "{uuid.uuid4()}"\n'
        f'wrk.headers["webhook-timestamp"] = "{int(time.time())}"\n'
        'wrk.headers["webhook-signature"] = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="\n')
    output = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "-s", str(script),
                             f"http://127.0.0.1:{receiver}/bench"], capture_output=True, text=True,
                            check=True).stdout
    return float(next(line.split()[1] for line in output.splitlines()
                      if line.startswith("Requests/sec")))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--throughput-rate", type=float, default=80)
    parser.add_argument("--latency-rate", type=float, default=10)
    parser.add_argument("--kill-rate", type=float, default=20)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for both instances (repeatable), for trying one")
    parser.add_argument("--drain", type=float, default=180,
                        help="seconds a phase's backlog may take to drain before the run fails")
    args = parser.parse_args()
    for tool in ("nginx", "wrk", "psql"):
        if not shutil.which(tool):
            print(f"{tool} is missing", file=sys.stderr)
            return 1
    subprocess.run(["cargo", "build", "--release", "-p", "clinicgate-api", "--bin", "clinicgate",
                    "--example", "webhooks_fanout"], cwd=ROOT, check=True)
    print(host_summary())
    name = f"bench_fanout_{int(time.time())}"
    subprocess.run(["psql", f"{args.database}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    database_url = f"{args.database}/{name}"
    workdir = Path(tempfile.mkdtemp(prefix="cg-fanout-"))
    prefix = f"cgbench:{uuid.uuid4().hex}"
    master_key = base64.b64encode(os.urandom(32)).decode()
    processes = []
    try:
        nginx, receiver, log = start_receiver(workdir)
        processes.append(nginx)
        env_a = instance_env(workdir, database_url, args.redis, prefix, master_key, free_port())
        env_b = instance_env(workdir, database_url, args.redis, prefix, master_key, free_port())
        for setting in args.env:
            key, _, value = setting.partition("=")
            env_a[key] = env_b[key] = value
        a = start_instance(env_a)
        processes.append(a)
        b = start_instance(env_b)
        processes.append(b)
        port_a = int(env_a["CLINICGATE_BIND"].rsplit(":", 1)[1])
        register(port_a, token(port_a), receiver, args.endpoints)
        offset = 0
        results = {}
        for phase, rate in (("throughput", args.throughput_rate), ("latency", args.latency_rate),
                            ("kill", args.kill_rate)):
            since = psql(database_url, "SELECT now()")
            if phase == "kill":
                def killer():
                    time.sleep(args.seconds / 3)
                    b.send_signal(signal.SIGKILL)
                    b.wait()
                    time.sleep(args.seconds / 3)
                    return start_instance(env_b)
                import concurrent.futures
                with concurrent.futures.ThreadPoolExecutor(1) as pool:
                    restarted = pool.submit(killer)
                    generated = generate(env_a, rate, args.seconds)
                    b = restarted.result()
                    processes.append(b)
            else:
                generated = generate(env_a, rate, args.seconds)
            drain(database_url, args.drain)
            stats = phase_stats(database_url, since)
            counts, offset = received(log, offset)
            expected = generated["published"] * args.endpoints
            stats.update({
                "events": generated["published"], "publish_errors": generated["errors"],
                "offered_deliveries_per_s": rate * args.endpoints,
                "received_distinct": len(counts),
                "lost": expected - len(counts),
                "duplicated": sum(n - 1 for n in counts.values() if n > 1),
            })
            results[phase] = stats
            print(phase, json.dumps(stats), flush=True)
        body_size = int(psql(database_url, "SELECT avg(length(data))::int FROM events"))
        wrk_rps = wrk_post(receiver, body_size, workdir, 10)
        results["wrk"] = {"rps": wrk_rps}
        print("wrk", json.dumps(results["wrk"]))
        ratio = results["throughput"]["deliveries_per_s"] / wrk_rps
        print(f"\nsustained {results['throughput']['deliveries_per_s']:.0f} deliveries/s "
              f"= {ratio:.2f}x wrk's {wrk_rps:.0f} POSTs/s; at "
              f"{args.latency_rate * args.endpoints:.0f} deliveries/s p50 "
              f"{results['latency']['p50_ms']:.0f} ms, p99 {results['latency']['p99_ms']:.0f} ms; "
              f"kill: lost {results['kill']['lost']}, duplicated {results['kill']['duplicated']}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        for log in workdir.glob("*.log"):
            shutil.copy(log, Path(tempfile.gettempdir()) / f"fanout-{log.name}")
        shutil.rmtree(workdir, ignore_errors=True)
        if not os.environ.get("BENCH_KEEP_DATABASE"):
            subprocess.run(["psql", f"{args.database}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
