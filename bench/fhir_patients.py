#!/usr/bin/env python3
"""The FHIR facade's own cost on a 50-patient searchset page: `GET /fhir/r4/Patient?_count=50`
against the Cliniko call it makes, `GET /patients?per_page=50` on the in-repo Cliniko sandbox,
measured in one run, alternating, on the same machine.

  python3 bench/fhir_patients.py [--requests 2000] [--warmup 200] [--count 50]
                                 [--database-url postgres://…] [--env NAME=VALUE …]

Set-up: the release `clinicgate` binary (built once if missing) with SQLite and in-process
state, 2 HTTP workers, JSON request log at info to /dev/null; its Cliniko sandbox
(`clinicgate cliniko-sandbox`, answering at ~0 ms) as the clinic's Cliniko, both budgets lifted
(sandbox rate limit and ClinicGate's Cliniko budget) so no request waits for budget: this
measures ClinicGate, not Cliniko's 200 calls a minute. One clinic connected to the sandbox's au1
account (a few hundred patients), one API client with patients:read.

Requests are sequential, each target over its own keep-alive connection, alternating one
request to each so load on the shared machine falls on both alike:
  cliniko     the sandbox's own list call, `GET /au1/v1/patients?page=1&per_page=50`, with the
              clinic's key (what the FHIR page costs Cliniko-side)
  fhir        `GET /fhir/r4/Patient?_count=50` with a bearer token: token check, the Cliniko
              call above, the PHI access ledger insert (50 patients), mapping to FHIR, the
              sealed paging cursors and the Bundle
  fhir-next   the `next` link of that page (opening a sealed cursor, then the same work)
`/api/public` has no patient list (only `GET /api/public/patients?partner_id=…`, one patient),
so there is no REST peer of the page; that row says so.

Reported: p50/p99/mean of each, and the FHIR overhead over the Cliniko call: p50 of fhir minus
p50 of cliniko, and the p50 of per-iteration differences. Target: overhead p50 <= 2 ms. The
load average is printed before and after (the machine is shared with other builds).
"""

import argparse
import base64
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth_tokens import BINARY, PASSWORD, ROOT, free_port, stop  # noqa: E402
from patient_page import call, percentile, wait_ready  # noqa: E402

USER_AGENT = "ClinicGate Bench (bench@clinicgate.dev)"


def api_token(port: int, cliniko_key: str) -> str:
    """A token of a new clinic's API client with patients:read, the clinic connected to the
    sandbox with `cliniko_key`."""
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
    status, _, body = call(port, "PUT", "/api/tenant/cliniko-key", clinic, {"api_key": cliniko_key},
                           {**origin, "Cookie": cookie})
    assert status == 200, body
    status, _, body = call(port, "POST", "/api/tenant/clients", clinic, {
        "name": "FHIR benchmark", "scopes": ["patients:read"], "rate_limit_per_minute": 10_000_000},
        {**origin, "Cookie": cookie})
    assert status == 201, body
    client = json.loads(body)
    status, _, body = call(port, "POST", "/api/auth/token", root, {
        "grant_type": "client_credentials", "client_id": client["client_id"],
        "client_secret": client["client_secret"]}, form=True)
    assert status == 200, body
    return json.loads(body)["access_token"]


class Target:
    """One kind of request, over its own keep-alive connection."""

    def __init__(self, port: int, host: str, headers: dict):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Host": host, **headers}
        self.samples: list[float] = []

    def get(self, path: str, keep: bool) -> bytes:
        started = time.perf_counter()
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status == 200, (response.status, body[:300])
        if keep:
            self.samples.append(elapsed)
        return body


def row(name: str, values: list[float]) -> str:
    return (f"| {name} | {percentile(values, 50):.2f} ms | {percentile(values, 99):.2f} ms | "
            f"{statistics.mean(values):.2f} ms |")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--database-url", default=None,
                        help="a database for ClinicGate instead of its embedded SQLite "
                             "(e.g. an empty PostgreSQL database)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the ClinicGate instance (repeatable), for trying one")
    args = parser.parse_args()
    if not BINARY.exists():
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "clinicgate-api",
                        "--bin", "clinicgate"], cwd=ROOT, check=True)

    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="cg-fhir-bench-"))
    processes = []
    try:
        sandbox_port = free_port()
        sandbox = subprocess.Popen([str(BINARY), "cliniko-sandbox", "--port", str(sandbox_port),
                                    "--rate-limit", "100000000"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(sandbox)
        wait_ready(sandbox_port, "/__sandbox/keys", "127.0.0.1")
        keys = json.loads(call(sandbox_port, "GET", "/__sandbox/keys", "127.0.0.1")[2])["keys"]
        key = next(k for k in keys if k["shard"] == "au1" and k["role"] == "administrator")

        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICGATE_")}
        env.update({
            "CLINICGATE_BIND": f"127.0.0.1:{port}",
            "CLINICGATE_PUBLIC_URL": f"http://localhost:{port}",
            "CLINICGATE_DATA_DIR": str(workdir / "data"),
            "CLINICGATE_CLINIKO__BASE_URL": f"http://127.0.0.1:{sandbox_port}/{{shard}}/v1",
            "CLINICGATE_CLINIKO__USER_AGENT": USER_AGENT,
            "CLINICGATE_CLINIKO__BUDGET_PER_MINUTE": "10000000",
            "CLINICGATE_CLINIKO__BUDGET_BURST": "1000",
            "CLINICGATE_HTTP__WORKERS": "2",
            "CLINICGATE_LOG__FORMAT": "json",
            "RUST_LOG": "info",
        })
        if args.database_url:
            env["CLINICGATE_DATABASE_URL"] = args.database_url
        env.update(setting.split("=", 1) for setting in args.env)
        clinicgate = subprocess.Popen([str(BINARY), "serve"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(clinicgate)
        wait_ready(port, "/readyz", "localhost")
        token = api_token(port, key["key"])

        basic = "Basic " + base64.b64encode(f"{key['key']}:".encode()).decode()
        cliniko = Target(sandbox_port, "127.0.0.1", {
            "Authorization": basic, "User-Agent": USER_AGENT, "Accept": "application/json"})
        fhir_headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
        fhir = Target(port, f"localhost:{port}", fhir_headers)
        fhir_next = Target(port, f"localhost:{port}", fhir_headers)

        first = json.loads(fhir.get(f"/fhir/r4/Patient?_count={args.count}", keep=False))
        shown = sum(1 for e in first.get("entry", []) if e["search"]["mode"] == "match")
        assert shown == args.count, f"the page holds {shown} patients"
        next_url = next(l["url"] for l in first["link"] if l["relation"] == "next")
        next_path = next_url[next_url.index("/fhir/r4"):]
        cliniko_path = f"/{key['shard']}/v1/patients?page=1&per_page={args.count}"

        for i in range(args.warmup + args.requests):
            keep = i >= args.warmup
            cliniko.get(cliniko_path, keep)
            fhir.get(f"/fhir/r4/Patient?_count={args.count}", keep)
            fhir_next.get(next_path, keep)

        load_after = os.getloadavg()
        overhead = [f - c for f, c in zip(fhir.samples, cliniko.samples)]
        overhead_next = [f - c for f, c in zip(fhir_next.samples, cliniko.samples)]
        print(f"{args.requests} sequential requests per target after {args.warmup} warm-up, "
              f"{args.count} patients a page, alternating")
        print()
        print("| measure | p50 | p99 | mean |")
        print("|---|---|---|---|")
        print(row(f"Cliniko sandbox list call (per_page={args.count})", cliniko.samples))
        print(row(f"FHIR Patient searchset (_count={args.count})", fhir.samples))
        print(row("FHIR next page (sealed cursor)", fhir_next.samples))
        print("| /api/public list of the same patients | n/a | n/a | n/a (no patient list in /api/public) |")
        print(row("FHIR overhead, per-iteration difference", overhead))
        print(row("FHIR next-page overhead, per-iteration difference", overhead_next))
        print()
        p50 = percentile(fhir.samples, 50) - percentile(cliniko.samples, 50)
        print(f"FHIR overhead p50 over the Cliniko call: {p50:.2f} ms (target <= 2 ms: "
              f"{'met' if p50 <= 2 else 'NOT met'})")
        print(f"load average: {load_before[0]:.2f} before, {load_after[0]:.2f} after "
              f"(1 min; 2 cores, shared with other builds)")
        return 0
    finally:
        stop(processes, workdir)


if __name__ == "__main__":
    sys.exit(main())
