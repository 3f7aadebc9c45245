#!/usr/bin/env python3
"""The patient page's own cost: total time of `GET /patients?patient_id=…` minus the time of the
Cliniko calls it makes, with the in-repo Cliniko sandbox answering at ~0 ms latency.

  python3 bench/patient_page.py [--requests 2000] [--warmup 100] [--patients 50]

ClinicGate runs the release build with `http.server_timing = true`, so every patient response
carries `Server-Timing: cliniko;dur=…, total;dur=…`:
  cliniko  wall time of the page's Cliniko calls (patient, alerts, upcoming and recent
           appointments, and the cached reference data — all issued concurrently)
  total    the handler's time, from the request reaching it to the page being rendered
The gateway's overhead per request is reported two ways:
  server   total - cliniko           (session, clinic lookup, key decryption, the ledger insert,
                                      rendering; excludes the HTTP framework and middleware)
  client   client latency - cliniko  (everything, including actix, middleware, the loopback round
                                      trip and Python's HTTP client: an upper bound)
Requests are sequential over one keep-alive connection, cycling through `--patients` patients of
sandbox account 0 (so reference data is cached, as in steady use; patient data never is).
Both budgets are lifted (sandbox rate limit and ClinicGate's Cliniko budget) so that no request
waits for budget: this measures ClinicGate, not Cliniko's 200/min.
"""

import argparse
import base64
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth_tokens import BINARY, PASSWORD, ROOT, free_port, stop  # noqa: E402


def call(port, method, path, host, body=None, headers=None, form=False):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    all_headers = {"Host": host, "Accept": "application/json"}
    if body is not None:
        if form:
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urllib.parse.urlencode(body)
        else:
            all_headers["Content-Type"] = "application/json"
            body = json.dumps(body)
    all_headers.update(headers or {})
    connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    return response.status, response.getheaders(), response.read()


def wait_ready(port, path, host, limit=60.0):
    started = time.time()
    while time.time() - started < limit:
        try:
            if call(port, "GET", path, host)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"not ready on :{port}{path}")


def percentile(values, pct):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--patients", type=int, default=50)
    args = parser.parse_args()
    if not BINARY.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "clinicgate-api", "--bin", "clinicgate"],
                       cwd=ROOT, check=True)

    workdir = Path(tempfile.mkdtemp(prefix="cg-patient-bench-"))
    processes = []
    try:
        sandbox_port = free_port()
        sandbox = subprocess.Popen([str(BINARY), "cliniko-sandbox", "--port", str(sandbox_port),
                                    "--rate-limit", "100000000"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(sandbox)
        wait_ready(sandbox_port, "/__sandbox/keys", "127.0.0.1")
        keys = json.loads(call(sandbox_port, "GET", "/__sandbox/keys", "127.0.0.1")[2])["keys"]
        key = next(k for k in keys if k["role"] == "administrator")

        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICGATE_")}
        env.update({
            "CLINICGATE_BIND": f"127.0.0.1:{port}",
            "CLINICGATE_PUBLIC_URL": f"http://localhost:{port}",
            "CLINICGATE_DATA_DIR": str(workdir / "data"),
            "CLINICGATE_CLINIKO__BASE_URL": f"http://127.0.0.1:{sandbox_port}/{{shard}}/v1",
            "CLINICGATE_CLINIKO__USER_AGENT": "ClinicGate Bench (bench@clinicgate.dev)",
            "CLINICGATE_CLINIKO__BUDGET_PER_MINUTE": "10000000",
            "CLINICGATE_CLINIKO__BUDGET_BURST": "1000",
            "CLINICGATE_HTTP__SERVER_TIMING": "true",
            "CLINICGATE_HTTP__WORKERS": "2",
            "CLINICGATE_LOG__FORMAT": "json",
            "RUST_LOG": "info",
        })
        clinicgate = subprocess.Popen([str(BINARY), "serve"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(clinicgate)
        wait_ready(port, "/readyz", "localhost")

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
        status, _, body = call(port, "PUT", "/api/tenant/cliniko-key", clinic, {"api_key": key["key"]},
                               {**origin, "Cookie": cookie})
        assert status == 200, body

        auth = "Basic " + base64.b64encode(f"{key['key']}:".encode()).decode()
        status, _, body = call(sandbox_port, "GET", f"/{key['shard']}/v1/patients?per_page={args.patients}",
                               "127.0.0.1", headers={"Authorization": auth,
                                                     "User-Agent": "ClinicGate Bench (bench@clinicgate.dev)"})
        assert status == 200, body
        patients = [p["id"] for p in json.loads(body)["patients"]]

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        timing = re.compile(r"(\w+);dur=([\d.]+)")
        samples = []
        for i in range(args.warmup + args.requests):
            patient = patients[i % len(patients)]
            started = time.perf_counter()
            connection.request("GET", f"/patients?patient_id={patient}",
                               headers={"Host": clinic, "Accept": "text/html", "Cookie": cookie})
            response = connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status == 200, response.status
            durations = dict((name, float(ms)) for name, ms in timing.findall(response.getheader("Server-Timing", "")))
            if i >= args.warmup:
                samples.append((elapsed, durations["cliniko"], durations["total"]))

        client = [s[0] for s in samples]
        cliniko = [s[1] for s in samples]
        server_overhead = [s[2] - s[1] for s in samples]
        client_overhead = [s[0] - s[1] for s in samples]
        print(f"{len(samples)} sequential patient pages after {args.warmup} warm-up, {len(patients)} patients")
        print()
        print("| measure | p50 | p99 | mean |")
        print("|---|---|---|---|")
        for name, values in [("client latency (page)", client), ("Cliniko calls (concurrent, wall)", cliniko),
                             ("gateway overhead, server (total - cliniko)", server_overhead),
                             ("gateway overhead, client (latency - cliniko)", client_overhead)]:
            print(f"| {name} | {percentile(values, 50):.2f} ms | {percentile(values, 99):.2f} ms | "
                  f"{statistics.mean(values):.2f} ms |")
        print()
        print(f"targets: overhead p50 <= 3 ms, p99 <= 10 ms; load average now {os.getloadavg()[0]:.1f}")
        return 0
    finally:
        stop(processes, workdir)


if __name__ == "__main__":
    sys.exit(main())
