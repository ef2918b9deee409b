"""Validates Vestibule's OpenAPI document and checks recorded answers against it.

usage: openapi_check.py SPEC.json [SAMPLES.json]

SPEC.json is validated as OpenAPI 3.1 with openapi-spec-validator (the official 3.1 meta-schema).
SAMPLES.json is a list of {"method", "path" (the documented template), "status", "body"}, answers
the server really gave; each body must validate against the schema the document gives for that
operation and status (JSON Schema 2020-12, as OpenAPI 3.1 specifies). Exits 1 with one line per
problem.
"""

import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:vestibule:openapi"


def pointer(*parts):
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    validate(spec)
    problems = []
    checked = 0
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            samples = json.load(f)
        registry = Registry().with_resource(
            BASE, Resource.from_contents(spec, default_specification=DRAFT202012)
        )
        for s in samples:
            where = f"{s['method']} {s['path']} {s['status']}"
            method = s["method"].lower()
            op = spec["paths"].get(s["path"], {}).get(method)
            if op is None:
                problems.append(f"{where}: operation not documented")
                continue
            status = str(s["status"])
            response = op["responses"].get(status)
            if response is None:
                problems.append(f"{where}: status not documented")
                continue
            content = response.get("content")
            body = s["body"]
            if body is None:
                if content:
                    problems.append(f"{where}: documented with a body, answered without")
                continue
            if not content or "application/json" not in content:
                problems.append(f"{where}: answered JSON, documented without")
                continue
            ref = BASE + "#" + pointer(
                "paths", s["path"], method, "responses", status, "content",
                "application/json", "schema",
            )
            validator = Draft202012Validator({"$ref": ref}, registry=registry)
            for error in validator.iter_errors(body):
                path = "/".join(str(p) for p in error.absolute_path)
                problems.append(f"{where}: at /{path}: {error.message[:300]}")
            checked += 1
    for p in problems:
        print(p)
    print(f"openapi_check: document valid; {checked} answers checked; {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
