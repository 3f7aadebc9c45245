#!/usr/bin/env python3
"""Validates docker-compose.yml against the Compose Specification's JSON schema (no Docker engine
runs on CI machines, and the docker client there has no compose plugin), plus the checks the
schema cannot express: every secret and volume a service uses is declared, every depends_on
target exists, and every service has a health check.

  python3 .ci/validate-compose.py SCHEMA.json docker-compose.yml
"""

import json
import sys

import jsonschema
import yaml


def main(schema_path: str, compose_path: str) -> int:
    schema = json.load(open(schema_path))
    doc = yaml.safe_load(open(compose_path))
    problems = [f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in jsonschema.Draft201909Validator(schema).iter_errors(doc)]
    services = doc.get("services", {})
    for name, service in services.items():
        for secret in service.get("secrets", []):
            secret = secret if isinstance(secret, str) else secret["source"]
            if secret not in doc.get("secrets", {}):
                problems.append(f"services/{name}: secret {secret!r} is not declared")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/")) and source not in doc.get("volumes", {}):
                problems.append(f"services/{name}: volume {source!r} is not declared")
        for dependency in service.get("depends_on", {}):
            if dependency not in services:
                problems.append(f"services/{name}: depends_on unknown service {dependency!r}")
        if "healthcheck" not in service:
            problems.append(f"services/{name}: no healthcheck")
    for problem in problems:
        print(f"docker-compose.yml: {problem}")
    print(f"docker-compose.yml: {len(services)} services, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
