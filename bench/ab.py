#!/usr/bin/env python3
"""A/B of two ClinicGate builds on one path, alternating wrk rounds between them in one run, so a
change is judged against the code before it on the same machine at the same moment.

  python3 bench/ab.py --a OLD_BINARY [--b NEW_BINARY] [--b-env NAME=VALUE ...]
                      [--path /api/public/me] [--rounds 5]
                      [--duration 10] [--connections 64] [--threads 2] [--workers 0] [--pin]
                      [--redis redis://127.0.0.1:6379] [--log-level info] [--quiet]

Both builds run side by side with the production defaults of bench/auth_tokens.py (SQLite, Redis,
JSON request log at info to /dev/null), each with its own clinic, API client and token; only the
one being measured receives load. Prints each round, then the medians and B/A.

`--b-env` starts B with extra environment variables; with B the same binary as A (the default),
that measures a setting or the host rather than a change, e.g. a slow clock source:

  gcc -O2 -shared -fPIC -o /tmp/slow_clock.so bench/slow_clock.c -ldl
  python3 bench/ab.py --a target/release/clinicgate --path /healthz \
      --b-env LD_PRELOAD=/tmp/slow_clock.so --b-env SLOW_CLOCK_NS=1000
"""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import auth_tokens  # noqa: E402
from auth_tokens import access_token, start_clinicgate, stop, wrk, cpu_seconds  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", type=Path, required=True)
    parser.add_argument("--b", type=Path, default=None, help="default: the same binary as A")
    parser.add_argument("--b-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for B (repeatable)")
    parser.add_argument("--path", default="/api/public/me")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--pin", action="store_true")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--quiet", action="store_true",
                        help="start each round only when the machine has been idle for 2 s")
    args = parser.parse_args()
    if args.pin:
        auth_tokens.LOAD_CPUS, auth_tokens.SERVER_CPUS = "0", "1"
    print(auth_tokens.host_summary(), flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="cg-ab-"))
    processes = []
    try:
        servers = {}
        b_env = dict(pair.split("=", 1) for pair in args.b_env)
        for name, binary, env in (("A", args.a, {}), ("B", args.b or args.a, b_env)):
            auth_tokens.BINARY = binary.resolve()
            (workdir / name).mkdir()
            process, port = start_clinicgate(workdir / name, args.redis, args.log_level,
                                             extra_env=env, workers=args.workers)
            processes.append(process)
            servers[name] = (process.pid, port, access_token(port))
        results = {"A": [], "B": []}
        for round_ in range(1, args.rounds + 1):
            for name, (pid, port, token) in servers.items():
                if args.quiet:
                    auth_tokens.wait_until_quiet()
                before = cpu_seconds(pid)
                result = wrk(f"http://127.0.0.1:{port}{args.path}", f"localhost:{port}", token, args)
                result["cpu_us"] = (cpu_seconds(pid) - before) / (result["rps"] * args.duration) * 1e6
                results[name].append(result)
                print(f"round {round_} {name} {result['rps']:10.0f} req/s  p50 {result['p50_ms']:.2f} ms"
                      f"  p99 {result['p99_ms']:.2f} ms  CPU {result['cpu_us']:.1f} us/req"
                      f"  non-2xx {result['non_2xx']}", flush=True)
        median = {name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms", "cpu_us")}
                  for name, runs in results.items()}
        print()
        print("| build | req/s (median) | p50 | p99 | CPU per request |")
        print("|---|---|---|---|---|")
        for name, m in median.items():
            print(f"| {name} | {m['rps']:.0f} | {m['p50_ms']:.2f} ms | {m['p99_ms']:.2f} ms | {m['cpu_us']:.1f} µs |")
        print(f"\nB/A req/s: {median['B']['rps'] / median['A']['rps']:.2f}")
        return 0
    finally:
        stop(processes, workdir)


if __name__ == "__main__":
    sys.exit(main())
