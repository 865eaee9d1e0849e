#!/usr/bin/env python3
"""A client of the machine API that knows only a token and the published OpenAPI document
(docs/api.md): it reads /api/v1/openapi.json, finds each operation by its operationId, and builds
the request from what the document declares (the path and its parameters, the query, the
Idempotency-Key header of a write, the body's required fields). Standard library only.

    API_TOKEN=tsl_... scripts/api_example.py --base https://tuyensinh.example.edu.vn schools
    API_TOKEN=tsl_... scripts/api_example.py --base URL roster rows.json [--key roster-2026-12-04]
    API_TOKEN=tsl_... scripts/api_example.py --base URL admitted SCHOOL_ID

`rows.json` holds a list of roster rows ({"personal_id": ..., "full_name": ..., ...}). The answer
is printed as JSON; an error answer (a problem, RFC 9457) is printed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

DOCUMENT = "/api/v1/openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")


class ApiError(Exception):
    def __init__(self, status: int, problem):
        super().__init__(f"{status}: {problem}")
        self.status, self.problem = status, problem


def urllib_transport(method: str, url: str, headers: dict, body: bytes | None) -> tuple[int, bytes]:
    """Send one request over HTTP(S): (status, body)."""
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class Client:
    """The API as its document describes it. `transport(method, url, headers, body)` → (status,
    body) sends a request (urllib by default; a test passes its own)."""

    def __init__(self, base: str, token: str, transport=urllib_transport, language: str = "vi"):
        self.base, self.token, self.transport, self.language = base.rstrip("/"), token, transport, language
        status, raw = transport("GET", self.base + DOCUMENT, {"Accept": "application/json"}, None)
        if status != 200:
            raise ApiError(status, raw.decode("utf-8", "replace"))
        self.doc = json.loads(raw)
        servers = self.doc.get("servers") or [{"url": "/"}]
        self.root = urllib.parse.urljoin(self.base + "/", servers[0]["url"]).rstrip("/")

    def operation(self, operation_id: str) -> tuple[str, str, dict, list[dict]]:
        """(method, path, operation, parameters) of the operation named `operation_id`."""
        for path, item in self.doc["paths"].items():
            for method in METHODS:
                op = item.get(method)
                if op is not None and op.get("operationId") == operation_id:
                    return method.upper(), path, op, item.get("parameters", []) + op.get("parameters", [])
        raise KeyError(f"no operation {operation_id!r} in the document")

    def schema(self, schema: dict) -> dict:
        while "$ref" in schema:
            node = self.doc
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def check_body(self, schema: dict, value, where: str = "body") -> None:
        """The body's objects carry every required field the document names, and no other."""
        schema = self.schema(schema)
        if schema.get("type") == "array" or "items" in schema:
            for i, item in enumerate(value):
                self.check_body(schema["items"], item, f"{where}[{i}]")
        elif schema.get("properties"):
            missing = set(schema.get("required", [])) - set(value)
            unknown = set(value) - set(schema["properties"])
            if missing or unknown:
                raise ValueError(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}")
            for key, item in value.items():
                if item is not None:
                    self.check_body(schema["properties"][key], item, f"{where}.{key}")

    def call(self, operation_id: str, *, body=None, idempotency_key: str | None = None, **params):
        method, path, op, declared = self.operation(operation_id)
        query, headers = {}, {"Authorization": f"Bearer {self.token}", "Accept-Language": self.language}
        for p in declared:
            name = p["name"]
            if p["in"] == "path" and name in params:
                path = path.replace("{" + name + "}", urllib.parse.quote(str(params.pop(name)), safe=""))
            elif p["in"] == "query" and name in params:
                query[name] = params.pop(name)
            elif p["in"] == "header" and name == "Idempotency-Key" and idempotency_key:
                headers[name] = idempotency_key
        if params:
            raise TypeError(f"{operation_id} takes no {sorted(params)}")
        missing = re.findall(r"{(\w+)}", path)
        if missing:
            raise TypeError(f"{operation_id} needs {missing}")
        data = None
        content = (op.get("requestBody") or {}).get("content", {})
        if "application/json" in content:
            self.check_body(content["application/json"]["schema"], body)
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        url = urllib.parse.urljoin(self.root + "/", path.lstrip("/"))
        if query:
            url += "?" + urllib.parse.urlencode(query)
        status, raw = self.transport(method, url, headers, data)
        answer = json.loads(raw) if raw else None
        if status >= 400:
            raise ApiError(status, answer)
        return answer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base", required=True, help="the site's address, e.g. https://tuyensinh.example.edu.vn"
    )
    parser.add_argument("--token", default=os.environ.get("API_TOKEN"), help="default: $API_TOKEN")
    parser.add_argument("--lang", default="vi", help="language of error messages (vi, en)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("schools", help="the schools in the token's scope")
    roster = sub.add_parser("roster", help="create or update residency roster entries")
    roster.add_argument("rows", help="a JSON file: a list of roster rows")
    roster.add_argument("--key", help="Idempotency-Key: the same key and rows are done once")
    admitted = sub.add_parser("admitted", help="the children admitted to a school")
    admitted.add_argument("school_id", type=int)
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no token: --token or API_TOKEN")
    api = Client(args.base, args.token, language=args.lang)
    try:
        if args.command == "schools":
            answer = api.call("schools")
        elif args.command == "roster":
            with open(args.rows, encoding="utf-8") as f:
                answer = api.call("roster_upsert", body={"rows": json.load(f)}, idempotency_key=args.key)
        else:
            answer = api.call("admitted", school_id=args.school_id)
    except ApiError as err:
        json.dump({"status": err.status, "problem": err.problem}, sys.stdout, ensure_ascii=False, indent=1)
        print()
        return 1
    json.dump(answer, sys.stdout, ensure_ascii=False, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
