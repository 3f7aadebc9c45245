#!/usr/bin/env python3
"""Start-to-ready time and idle memory of ClinicGate on its embedded default (SQLite, in-process
state), with nginx measured the same way in the same run as a reference.

  python3 bench/startup.py [--runs 20]      (builds target/release/clinicgate if missing)

"Ready" is the first 200 from GET /readyz (ClinicGate; database and store checked) or GET /
(nginx, `return 200`). Migrations are applied once beforehand, so the timed starts measure the
service, not schema creation. Idle RSS is read from /proc after 2 s without traffic (ClinicGate:
its one process; nginx: master plus workers).
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "clinicgate"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_status(port: int, path: str) -> int | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(64).decode(errors="replace")
            return int(head.split()[1]) if head.startswith("HTTP/") else None
    except OSError:
        return None


def wait_ready(port: int, path: str, started: float, limit: float = 20.0) -> float:
    while time.perf_counter() - started < limit:
        if get_status(port, path) == 200:
            return time.perf_counter() - started
        time.sleep(0.001)
    raise RuntimeError(f"not ready on :{port}{path} within {limit}s")


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def clinicgate_env(data_dir: str, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICGATE_")}
    env.update(CLINICGATE_DATA_DIR=data_dir, CLINICGATE_BIND=f"127.0.0.1:{port}", RUST_LOG="warn")
    return env


def bench_clinicgate(runs: int) -> tuple[list[float], int]:
    data_dir = tempfile.mkdtemp(prefix="cg-bench-")
    port = free_port()
    env = clinicgate_env(data_dir, port)
    # First start: creates the database and master key, applies migrations (not timed).
    subprocess.run([BINARY, "migrate"], env=env, check=True, stderr=subprocess.DEVNULL)
    times, rss = [], 0
    for i in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen([BINARY, "serve"], env=env, stderr=subprocess.DEVNULL)
        times.append(wait_ready(port, "/readyz", started))
        if i == runs - 1:
            time.sleep(2)
            rss = rss_kib([proc.pid])
        stop(proc)
    shutil.rmtree(data_dir)
    return times, rss


def bench_nginx(runs: int) -> tuple[list[float], int]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    work = Path(tempfile.mkdtemp(prefix="nginx-bench-"))
    port = free_port()
    (work / "nginx.conf").write_text(
        f"""worker_processes 2; daemon off; pid {work}/nginx.pid; error_log {work}/error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {work}; proxy_temp_path {work};
  fastcgi_temp_path {work}; uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok"; }} }} }}
"""
    )
    times, rss = [], 0
    for i in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen([nginx, "-c", str(work / "nginx.conf"), "-p", str(work)], stderr=subprocess.DEVNULL)
        times.append(wait_ready(port, "/", started))
        if i == runs - 1:
            time.sleep(2)
            rss = rss_kib([proc.pid, *children(proc.pid)])
        stop(proc)
    shutil.rmtree(work)
    return times, rss


def summary(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"{statistics.median(ms):.1f} ms median, {p95:.1f} ms p95, {ms[0]:.1f}–{ms[-1]:.1f} ms range"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not BINARY.exists():
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "clinicgate-api"], cwd=ROOT, check=True)
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        sys.exit("nginx is needed as the reference: apt-get install nginx-light")
    cg_times, cg_rss = bench_clinicgate(args.runs)
    ng_times, ng_rss = bench_nginx(args.runs)
    print(f"machine: {os.cpu_count()} cores; {args.runs} starts each\n")
    print("| service | start → ready | idle RSS |")
    print("|---|---|---|")
    print(f"| ClinicGate (SQLite, in-process, 2 workers) | {summary(cg_times)} | {cg_rss / 1024:.1f} MiB |")
    print(f"| nginx `return 200` (2 workers) | {summary(ng_times)} | {ng_rss / 1024:.1f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
