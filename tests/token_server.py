#!/usr/bin/env python3
"""A tiny Docker/OCI registry token server for the rless integration tests.

tests/run.sh starts it next to a docker-registry configured with
``auth: token``.  Only the Python standard library is used; tokens are signed
RS256 by the ``openssl`` command line tool.

Endpoints:

  GET /token?service=S[&scope=repository:NAME:ACTIONS]...
      Returns ``{"token": JWT, "access_token": JWT, "expires_in": N,
      "issued_at": T}``.

      * No Authorization header: an anonymous token that grants nothing (the
        token spec says a token server should not treat missing access as an
        error; the registry then answers 401 insufficient_scope).
      * ``Authorization: Basic`` with a known user and password: a token
        granting the requested ``pull`` and ``push`` on every requested
        repository whose name does not contain a --deny substring (``push``
        is not granted where the name contains a --pull-only substring).
      * Any other credentials: 401 with a Basic challenge.
      * With --expired-first SUBSTR: the first token a known user gets for a
        set of scopes that names a repository containing SUBSTR has already
        expired (its ``exp`` is an hour ago, past the registry's leeway;
        ``expires_in`` still says --ttl), so the registry refuses it and a
        client must fetch a fresh one; later tokens for the same user and
        scopes are good.
      * A ``service`` other than --service: 400.

  GET /healthz
      200 "ok" (readiness probe for run.sh).

The JWT header is ``{"alg": "RS256", "typ": "JWT", "x5c": [CERT]}`` where
CERT is the base64 DER of --cert; distribution verifies that chain against its
``rootcertbundle`` (the same self-signed certificate) and then the signature
with the leaf certificate's public key.
"""

import argparse
import base64
import hmac
import json
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

GRANTABLE = ("pull", "push")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def cert_der_base64(path):
    """The first certificate of a PEM file as standard base64 of its DER."""
    body = []
    inside = False
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if line == "-----BEGIN CERTIFICATE-----":
                inside = True
            elif line == "-----END CERTIFICATE-----":
                break
            elif inside:
                body.append(line)
    if not body:
        raise SystemExit(f"token_server: no certificate in {path}")
    # Round-trip to normalise (and to fail early on garbage).
    return base64.b64encode(base64.b64decode("".join(body))).decode("ascii")


def parse_scopes(values):
    """[(type, name, [actions])] from scope query values.

    A scope is TYPE:NAME:ACTIONS; NAME may itself contain colons, so the
    type ends at the first colon and the actions start after the last one.
    Several scopes may share one parameter, separated by spaces.
    """
    out = []
    for value in values:
        for scope in value.split():
            first = scope.find(":")
            last = scope.rfind(":")
            if first < 0 or last == first:
                continue
            kind, name, actions = scope[:first], scope[first + 1:last], scope[last + 1:]
            out.append((kind, name, [a for a in actions.split(",") if a]))
    return out


class Config:
    def __init__(self, args):
        self.key = args.key
        self.x5c = [cert_der_base64(args.cert)]
        self.issuer = args.issuer
        self.service = args.service
        self.ttl = args.ttl
        self.deny = args.deny or []
        self.pull_only = args.pull_only or []
        self.expired_first = args.expired_first or []
        self.issued = set()
        self.issued_lock = threading.Lock()
        self.users = {}
        for cred in args.credentials or []:
            user, sep, password = cred.partition(":")
            if not sep or not user:
                raise SystemExit(f"token_server: --credentials wants USER:PASSWORD, got {cred!r}")
            self.users[user] = password

    def sign(self, data):
        proc = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.key],
            input=data,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout:
            raise RuntimeError("openssl dgst -sign failed: " + proc.stderr.decode(errors="replace"))
        return proc.stdout

    def first_expired(self, user, scopes):
        """Whether this token must be born expired (--expired-first)."""
        if not user or not any(
            any(e in name for e in self.expired_first) for _, name, _ in scopes
        ):
            return False
        key = (user, tuple(sorted((k, n, tuple(a)) for k, n, a in scopes)))
        with self.issued_lock:
            first = key not in self.issued
            self.issued.add(key)
        return first

    def issue(self, subject, access, expired=False):
        now = int(time.time())
        born = now - 7200 if expired else now
        header = {"alg": "RS256", "typ": "JWT", "x5c": self.x5c}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": born + self.ttl if not expired else now - 3600,
            "nbf": born - 1,
            "iat": born,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self.sign(signing_input.encode("ascii"))
        return signing_input + "." + b64url(signature), now

    def authenticate(self, header):
        """(ok, user): ok is False for credentials that must be refused."""
        if header is None:
            return True, ""
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False, None
        user, sep, password = decoded.partition(":")
        want = self.users.get(user)
        if not sep or want is None:
            return False, None
        if not hmac.compare_digest(password.encode(), want.encode()):
            return False, None
        return True, user

    def grant(self, user, scopes):
        if not user:
            return []
        access = []
        for kind, name, actions in scopes:
            if kind != "repository" or any(d in name for d in self.deny):
                continue
            allowed = [a for a in actions if a in GRANTABLE]
            if any(p in name for p in self.pull_only):
                allowed = [a for a in allowed if a != "push"]
            if allowed:
                access.append({"type": kind, "name": name, "actions": allowed})
        return access


class Handler(BaseHTTPRequestHandler):
    server_version = "rless-test-token/1"
    config = None  # set in main()

    def log_message(self, fmt, *args):
        sys.stderr.write("token_server: %s %s\n" % (self.address_string(), fmt % args))

    def reply(self, status, body, extra_headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message, extra_headers=()):
        self.reply(status, {"errors": [{"code": code, "message": message}]}, extra_headers)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self.reply(200, {"status": "ok"})
            return
        if url.path != "/token":
            self.error(404, "NOT_FOUND", "no such endpoint")
            return
        cfg = self.config
        query = parse_qs(url.query, keep_blank_values=True)
        service = query.get("service", [None])[0]
        if service != cfg.service:
            self.error(400, "INVALID_REQUEST", f"unknown service {service!r}")
            return
        ok, user = cfg.authenticate(self.headers.get("Authorization"))
        if not ok:
            self.error(
                401,
                "UNAUTHORIZED",
                "authentication failed",
                [("WWW-Authenticate", 'Basic realm="rless-test-token"')],
            )
            return
        scopes = parse_scopes(query.get("scope", []))
        access = cfg.grant(user, scopes)
        try:
            expired = cfg.first_expired(user, scopes)
            token, now = cfg.issue(user, access, expired)
        except RuntimeError as e:
            self.error(500, "SIGNING_FAILED", str(e))
            return
        sys.stderr.write(
            "token_server: issued user=%r scopes=%r access=%s%s\n"
            % (user, query.get("scope", []), json.dumps(access), " (expired)" if expired else "")
        )
        self.reply(
            200,
            {
                "token": token,
                "access_token": token,
                "expires_in": cfg.ttl,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            },
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", default="127.0.0.1:5003", help="HOST:PORT to listen on")
    p.add_argument("--key", required=True, help="PEM RSA private key")
    p.add_argument("--cert", required=True, help="PEM certificate of that key")
    p.add_argument("--issuer", required=True, help="iss claim (registry auth.token.issuer)")
    p.add_argument("--service", required=True, help="aud claim (registry auth.token.service)")
    p.add_argument("--credentials", action="append", help="USER:PASSWORD (repeatable)")
    p.add_argument("--deny", action="append", help="never grant repositories whose name contains this")
    p.add_argument("--pull-only", action="append", help="never grant push on repositories whose name contains this")
    p.add_argument(
        "--expired-first",
        action="append",
        help="first token per user and scopes naming a repository that contains this is already expired",
    )
    p.add_argument("--ttl", type=int, default=300, help="token lifetime in seconds")
    args = p.parse_args()

    host, _, port = args.addr.rpartition(":")
    Handler.config = Config(args)
    # Fail at start-up rather than on the first request if signing is broken.
    Handler.config.sign(b"self-test")
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    sys.stderr.write(f"token_server: listening on {args.addr}\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
