#!/usr/bin/env python3
"""What password hashing leaves in ClinicGate's memory: resident memory of the release binary
(SQLite, in-process state) idle, then after many sign-ups and logins at once, then 5 s later.

  python3 bench/password_memory.py [--signups 400] [--parallel 16]

Each sign-up hashes the owner's password (argon2id, 19 MiB of working memory), each login
verifies one; `--parallel` clients send them at once, so many hashes are asked for together as
in a burst of sign-ups. The per-address sign-up limit is lifted for the run. Reported: VmRSS
from /proc (KiB) and the growth over idle; the number that matters is what is still held after
the burst has ended.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth_tokens import BINARY, PASSWORD, free_port, stop  # noqa: E402
from patient_page import call, wait_ready  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signups", type=int, default=400)
    parser.add_argument("--parallel", type=int, default=16)
    args = parser.parse_args()
    if not BINARY.exists():
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "clinicgate-api",
                        "--bin", "clinicgate"], check=True)
    workdir = Path(tempfile.mkdtemp(prefix="cg-password-memory-"))
    processes = []
    try:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICGATE_")}
        env.update({
            "CLINICGATE_BIND": f"127.0.0.1:{port}",
            "CLINICGATE_PUBLIC_URL": f"http://localhost:{port}",
            "CLINICGATE_DATA_DIR": str(workdir / "data"),
            "CLINICGATE_SIGNUP__MAX_PER_IP_PER_HOUR": str(args.signups + 10),
            "CLINICGATE_HTTP__WORKERS": "2",
        })
        server = subprocess.Popen([str(BINARY), "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(server)
        wait_ready(port, "/readyz", "localhost")
        time.sleep(2)
        idle = rss_kib(server.pid)

        def signup_and_login(i: int) -> None:
            clinic = f"c{i}"
            status, _, body = call(port, "POST", "/api/signup", f"localhost:{port}", {
                "clinic_name": f"Clinic {i}", "subdomain": clinic,
                "email": f"owner@{clinic}.example.com", "password": PASSWORD})
            assert status == 201, (status, body)
            host = f"{clinic}.localhost:{port}"
            status, _, body = call(port, "POST", "/api/session", host,
                                   {"email": f"owner@{clinic}.example.com", "password": PASSWORD},
                                   {"Origin": f"http://{host}"})
            assert status == 200, (status, body)

        started = time.time()
        peak = idle
        with ThreadPoolExecutor(args.parallel) as pool:
            pending = [pool.submit(signup_and_login, i) for i in range(args.signups)]
            while any(not p.done() for p in pending):
                peak = max(peak, rss_kib(server.pid))
                time.sleep(0.1)
            for p in pending:
                p.result()
        took = time.time() - started
        after = rss_kib(server.pid)
        time.sleep(5)
        settled = rss_kib(server.pid)
        print(f"{args.signups} sign-ups and logins, {args.parallel} at once, in {took:.1f} s "
              f"({2 * args.signups / took:.1f} hashes/s)\n")
        print("| moment | VmRSS | over idle |")
        print("|---|---|---|")
        for name, kib in [("idle, before", idle), ("peak during the burst", peak),
                          ("right after", after), ("5 s later", settled)]:
            print(f"| {name} | {kib / 1024:.0f} MiB | +{(kib - idle) / 1024:.0f} MiB |")
        return 0
    finally:
        stop(processes, workdir)


if __name__ == "__main__":
    sys.exit(main())
