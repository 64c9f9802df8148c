#!/usr/bin/env python3
"""TLS connections: jqd's memory per idle connection, TLS against plain
TCP (issue 15; PROTOCOL.md section 1).

    JQD=./jqd python3 bench/tls.py [--conns 1000]

Needs the openssl command (the certificates are made as the tests make
them, tests/integration/jqtest.tls_files()).  For each kind, plain then
TLS, starts a private jqd (tests/integration/jqtest.Server, the same
options both times: a plain and a tls: listener on loopback,
--insecure-tcp), opens --conns connections of that kind, each answering
one ping (so the TLS handshake is done and the connection is idle, as a
client waiting between requests is), and reports jqd's RSS before and
after: KiB per connection.  The client side (this script) is not
measured.  Under ASan the figures mean nothing (its quarantine)."""

import argparse
import os
import resource
import socket
import ssl
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import jqtest  # noqa: E402
from jqtest import Client, Server, rss_kib, wait_until  # noqa: E402


def open_conns(srv, n, ctx):
    """n connections to srv, each having answered a ping."""
    conns = []
    port = srv.tls_port if ctx is not None else srv.port
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        if ctx is not None:
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        s.sendall(b'{"id":1,"op":"ping"}\n')
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(4096)
            assert chunk, "connection %d closed: %r" % (i, reply)
            reply += chunk
        assert b'"ok":true' in reply, reply
        conns.append(s)
    return conns


def measure(kind, n, files, ctx):
    d = tempfile.mkdtemp(prefix="jqd-bench-tls-")
    srv = Server("--insecure-tcp", "--tls-cert", files["server_cert"],
                 "--tls-key", files["server_key"],
                 "--max-connections", str(n + 64),
                 listen_args=["--listen", "127.0.0.1:0",
                              "--listen", "tls:127.0.0.1:0",
                              "--unix", os.path.join(d, "jqd.sock")])
    with srv:
        ctl = Client(srv, unix=True)
        ctl.ok("ping")
        # A few first, so the allocator's start-up growth is not counted.
        warm = open_conns(srv, 16, ctx)
        before = rss_kib(srv.proc.pid)
        conns = open_conns(srv, n, ctx)
        wait_until(lambda: ctl.ok("stats")["connections"] >= n + 17)
        after = rss_kib(srv.proc.pid)
        for s in conns + warm:
            s.close()
        ctl.close()
    per = (after - before) / float(n)
    print("%-6s %d idle connections: jqd RSS %d KiB -> %d KiB: "
          "%.1f KiB per connection" % (kind, n, before, after, per))
    return per


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=1000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.conns + 256
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    files = jqtest.tls_files()
    ctx = ssl.create_default_context(cafile=files["ca"])
    plain = measure("plain", args.conns, files, None)
    tls = measure("tls", args.conns, files, ctx)
    print("TLS costs %.1f KiB more per idle connection (%.1fx)" % (
        tls - plain, tls / plain if plain > 0 else float("nan")))


if __name__ == "__main__":
    main()
