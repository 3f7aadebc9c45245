#!/usr/bin/env python3
"""Change detection over Cliniko, end to end: from a change made directly in the Cliniko sandbox
to the webhook delivered at a partner's receiver, the share of the clinic's Cliniko budget the
polling spends while idle and while busy, and what a staff member's patient page waits; or, with
--clinics 1000, the pollers' cost with many connected clinics.

  python3 bench/webhooks_detection.py                  # one clinic: detection, budget, lanes
  python3 bench/webhooks_detection.py --clinics 1000   # scale: CPU and RSS per 1 000 idle clinics

Set-up: the release `clinicgate` binary as the Cliniko sandbox (200 calls per key per minute,
like Cliniko) and as two instances on one fresh PostgreSQL database and one Redis prefix, with
the shipped polling defaults (idle clinics every 10 s, busy ones every 2 s, background lane).
A receiver (Python's http.server) records when each webhook arrives.

One clinic:
  control   polling off: 20 patient-page views (the interactive lane), one every 2 s
  idle      polling on, no change for --idle seconds: Cliniko calls the pollers made
  busy      --changes changes in the sandbox (new patients, notes on appointments), one every
            --every seconds, a patient-page view after each: time from the change to its
            webhook, Cliniko calls, patient-page latency
Scale (--clinics N): N generated sandbox accounts, N clinics signed up and connected; once every
  baseline is read, the two instances' CPU and RSS over --idle seconds against their RSS before
  the clinics were connected; then one change in each of 10 clinics, time to its webhook.
"""

import argparse
import base64
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import auth_tokens  # noqa: E402
from auth_tokens import (PASSWORD, call, cpu_seconds, free_port, host_summary,  # noqa: E402
                         wait_ready)
from webhooks_fanout import instance_env, psql  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUDGET_PER_MINUTE = 200
TYPES = ["patient.created", "appointment.updated"]


class Receiver(BaseHTTPRequestHandler):
    """Records (arrival time, type, data id) of every message."""
    arrivals: list = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with Receiver.lock:
            Receiver.arrivals.append((time.time(), body["type"], body["data"].get("id")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def arrival_of(event_type: str, record_id: str, limit: float = 120.0) -> float:
    started = time.time()
    while time.time() - started < limit:
        with Receiver.lock:
            for at, seen_type, seen_id in Receiver.arrivals:
                if seen_type == event_type and seen_id == record_id:
                    return at
        time.sleep(0.02)
    raise RuntimeError(f"no {event_type} for {record_id}")


class Sandbox:
    def __init__(self, workdir: Path):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICGATE_")}
        self.process = subprocess.Popen(
            [str(auth_tokens.BINARY), "cliniko-sandbox", "--port", str(self.port)], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.port, "/__sandbox/keys", "127.0.0.1")
        self.base = f"http://127.0.0.1:{self.port}"

    def keys(self) -> list:
        return json.loads(call(self.port, "GET", "/__sandbox/keys", "127.0.0.1")[2])["keys"]

    def generate(self, count: int) -> list:
        keys = []
        while count:
            batch = min(count, 100)
            status, _, body = call(self.port, "POST", "/__sandbox/accounts", "127.0.0.1",
                                   {"count": batch})
            assert status == 201, body
            keys += [k for k in json.loads(body)["keys"] if k["role"] == "administrator"]
            count -= batch
        return keys

    def accepted(self) -> dict:
        stats = json.loads(call(self.port, "GET", "/__sandbox/stats", "127.0.0.1")[2])
        return {name: account["accepted"] for name, account in stats["accounts"].items()}

    def desk(self, key: dict, method: str, path: str, body=None) -> dict:
        import http.client
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        auth = base64.b64encode(f"{key['key']}:".encode()).decode()
        headers = {"Authorization": f"Basic {auth}", "Accept": "application/json",
                   "User-Agent": "Bench desk (desk@bench.example)", "Host": f"127.0.0.1:{self.port}"}
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body)
        connection.request(method, f"/{key['shard']}/v1{path}", body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        assert response.status < 300, (response.status, data)
        return json.loads(data) if data else {}


def account_of(key: dict) -> str:
    return key.get("account") or key["shard"]


def sign_up(port: int, subdomain: str, cliniko_key: str) -> str:
    """A clinic connected to `cliniko_key`; its owner's session cookie."""
    root, clinic = f"localhost:{port}", f"{subdomain}.localhost:{port}"
    origin = {"Origin": f"http://{clinic}"}
    status, _, body = call(port, "POST", "/api/signup", root, {
        "clinic_name": subdomain.title(), "subdomain": subdomain,
        "email": f"owner@{subdomain}.example.com", "password": PASSWORD})
    assert status == 201, body
    status, headers, body = call(port, "POST", "/api/session", clinic,
                                 {"email": f"owner@{subdomain}.example.com", "password": PASSWORD},
                                 origin)
    assert status == 200, body
    cookie = next(v.split(";")[0] for k, v in headers if k.lower() == "set-cookie")
    # Verifying a key is one Cliniko call; while hundreds of clinics connect at once the sandbox
    # (one process standing in for Cliniko) can be slow to answer: retried as a person would.
    for attempt in range(6):
        status, _, body = call(port, "PUT", "/api/tenant/cliniko-key", clinic,
                               {"api_key": cliniko_key}, {**origin, "Cookie": cookie})
        if status not in (429, 502, 503):
            break
        time.sleep(2 ** attempt)
    assert status == 200, body
    return cookie


def endpoint_for(port: int, subdomain: str, cookie: str, receiver: int) -> None:
    clinic = f"{subdomain}.localhost:{port}"
    origin = {"Origin": f"http://{clinic}", "Cookie": cookie}
    status, _, body = call(port, "POST", "/api/tenant/clients", clinic, {
        "name": "Partner", "scopes": ["appointments:read", "patients:read", "webhooks:manage"]},
        origin)
    assert status == 201, body
    client = json.loads(body)
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    form = (f"grant_type=client_credentials&client_id={client['client_id']}"
            f"&client_secret={client['client_secret']}")
    connection.request("POST", "/api/auth/token", body=form, headers={
        "Host": f"localhost:{port}", "Content-Type": "application/x-www-form-urlencoded"})
    token = json.loads(connection.getresponse().read())["access_token"]
    status, _, body = call(port, "POST", "/api/public/webhooks", f"localhost:{port}", {
        "url": f"http://127.0.0.1:{receiver}/hooks/{subdomain}", "event_types": TYPES},
        {"Authorization": f"Bearer {token}"})
    assert status == 201, body


def wait_baselines(database_url: str, clinics: int, limit: float = 900.0) -> float:
    started = time.time()
    while time.time() - started < limit:
        done = psql(database_url, """
            SELECT count(*) FROM (SELECT tenant_id FROM poll_cursors GROUP BY tenant_id
                                  HAVING bool_and(baseline_done)) AS b""")
        if int(done or 0) >= clinics:
            return time.time() - started
        time.sleep(1)
    raise RuntimeError("baselines not read")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list, p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * p))]


def patient_page(port: int, subdomain: str, cookie: str, patient_id: str) -> float:
    started = time.perf_counter()
    status, _, _ = call(port, "GET", f"/patients?patient_id={patient_id}",
                        f"{subdomain}.localhost:{port}", None, {"Cookie": cookie})
    assert status == 200, status
    return (time.perf_counter() - started) * 1000


def change(sandbox: Sandbox, key: dict, n: int, appointments: list) -> tuple[str, str]:
    """One change made in Cliniko: a new patient, or new notes on an appointment."""
    if n % 2 == 0:
        created = sandbox.desk(key, "POST", "/patients", {
            "first_name": f"Bench{n}", "last_name": "Patient", "email": f"b{n}@bench.example"})
        return "patient.created", created["id"]
    appointment = appointments[n % len(appointments)]
    sandbox.desk(key, "PATCH", f"/individual_appointments/{appointment}",
                 {"notes": f"Bench note {n} {uuid.uuid4().hex[:6]}"})
    return "appointment.updated", appointment


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clinics", type=int, default=1)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--every", type=float, default=4.0)
    parser.add_argument("--idle", type=int, default=60)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "-p", "clinicgate-api", "--bin", "clinicgate"],
                   cwd=ROOT, check=True)
    print(host_summary())
    name = f"bench_detection_{int(time.time())}"
    subprocess.run(["psql", f"{args.database}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    database_url = f"{args.database}/{name}"
    workdir = Path(tempfile.mkdtemp(prefix="cg-detect-"))
    prefix = f"cgbench:{uuid.uuid4().hex}"
    master_key = base64.b64encode(os.urandom(32)).decode()
    receiver_port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", receiver_port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox = Sandbox(workdir)
    processes = [sandbox.process]
    envs = []
    for _ in range(2):
        env = instance_env(workdir, database_url, args.redis, prefix, master_key, free_port())
        env["CLINICGATE_CLINIKO__BASE_URL"] = f"{sandbox.base}/{{shard}}/v1"
        env["CLINICGATE_CLINIKO__USER_AGENT"] = "ClinicGate bench (bench@clinicgate.dev)"
        # Every clinic signs up from this one address.
        env["CLINICGATE_SIGNUP__MAX_PER_IP_PER_HOUR"] = str(args.clinics + 10)
        envs.append(env)

    def start(polling: bool) -> list:
        started = []
        for env in envs:
            env["CLINICGATE_POLLING__ENABLED"] = "true" if polling else "false"
            log = open(workdir / f"instance-{env['CLINICGATE_BIND'].rsplit(':', 1)[1]}.log", "ab")
            process = subprocess.Popen([str(auth_tokens.BINARY), "serve"], env=env,
                                       stdout=log, stderr=subprocess.STDOUT)
            wait_ready(int(env["CLINICGATE_BIND"].rsplit(":", 1)[1]), "/readyz", "localhost")
            started.append(process)
        processes.extend(started)
        return started

    def stop_all(group):
        for process in group:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)

    try:
        port = int(envs[0]["CLINICGATE_BIND"].rsplit(":", 1)[1])
        results = {}
        if args.clinics == 1:
            key = next(k for k in sandbox.keys() if k["shard"] == "au1" and k["role"] == "administrator")
            instances = start(polling=False)
            cookie = sign_up(port, "bench", key["key"])
            endpoint_for(port, "bench", cookie, receiver_port)
            patients = sandbox.desk(key, "GET", "/patients?per_page=20")["patients"]
            appointments = [a["id"] for a in sandbox.desk(
                key, "GET", "/individual_appointments?per_page=50")["individual_appointments"]]
            control = [patient_page(port, "bench", cookie, patients[i % 20]["id"]) for i in range(20)
                       if not time.sleep(2)]
            results["control_page_ms"] = {"p50": percentile(control, 0.5), "p95": percentile(control, 0.95)}
            stop_all(instances)
            instances = start(polling=True)
            results["baseline_s"] = wait_baselines(database_url, 1)
            before = sum(sandbox.accepted().values())
            time.sleep(args.idle)
            idle_calls = sum(sandbox.accepted().values()) - before
            results["idle_calls_per_min"] = idle_calls * 60 / args.idle
            results["idle_budget_share"] = results["idle_calls_per_min"] / BUDGET_PER_MINUTE
            latencies, pages = [], []
            before = sum(sandbox.accepted().values())
            started = time.time()
            desk_calls = 0
            for n in range(args.changes):
                event_type, record = change(sandbox, key, n, appointments)
                changed_at = time.time()
                desk_calls += 1
                pages.append(patient_page(port, "bench", cookie, patients[n % 20]["id"]))
                latencies.append(arrival_of(event_type, record) - changed_at)
                time.sleep(max(0.0, args.every - (time.time() - changed_at)))
            busy_seconds = time.time() - started
            page_calls = len(pages)
            busy_calls = sum(sandbox.accepted().values()) - before - desk_calls - page_calls
            results["busy_poll_calls_per_min"] = busy_calls * 60 / busy_seconds
            results["busy_budget_share"] = results["busy_poll_calls_per_min"] / BUDGET_PER_MINUTE
            results["detection_s"] = {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
                                      "max": max(latencies), "n": len(latencies)}
            results["busy_page_ms"] = {"p50": percentile(pages, 0.5), "p95": percentile(pages, 0.95)}
        else:
            instances = start(polling=True)
            time.sleep(3)
            rss_before = [rss_mib(p.pid) for p in instances]
            keys = sandbox.generate(args.clinics)
            t0 = time.time()
            with ThreadPoolExecutor(4) as pool:
                cookies = list(pool.map(lambda ik: sign_up(port, f"c{ik[0]:04d}", ik[1]["key"]),
                                        enumerate(keys)))
            results["connect_s"] = time.time() - t0
            sample = random.Random(7).sample(range(args.clinics), 10)
            for i in sample:
                endpoint_for(port, f"c{i:04d}", cookies[i], receiver_port)
            results["baselines_s"] = wait_baselines(database_url, args.clinics)
            time.sleep(15)
            cpu0 = [cpu_seconds(p.pid) for p in instances]
            calls0 = sum(sandbox.accepted().values())
            time.sleep(args.idle)
            cpu = [(cpu_seconds(p.pid) - c) / args.idle for p, c in zip(instances, cpu0)]
            results["idle_cpu_share_of_one_core"] = cpu
            results["idle_cpu_total"] = sum(cpu)
            results["rss_mib_before"] = rss_before
            results["rss_mib_after"] = [rss_mib(p.pid) for p in instances]
            results["extra_rss_mib"] = [a - b for a, b in zip(results["rss_mib_after"], rss_before)]
            results["cliniko_calls_per_s"] = (sum(sandbox.accepted().values()) - calls0) / args.idle
            latencies = []
            for i in sample:
                created = sandbox.desk(keys[i], "POST", "/patients", {
                    "first_name": f"Scale{i}", "last_name": "Patient", "email": f"s{i}@bench.example"})
                changed_at = time.time()
                latencies.append(arrival_of("patient.created", created["id"]) - changed_at)
            results["detection_s"] = {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
                                      "max": max(latencies), "n": len(latencies)}
        print(json.dumps(results, indent=2))
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        server.shutdown()
        for log in workdir.glob("*.log"):
            shutil.copy(log, Path(tempfile.gettempdir()) / f"detection-{log.name}")
        shutil.rmtree(workdir, ignore_errors=True)
        subprocess.run(["psql", f"{args.database}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
