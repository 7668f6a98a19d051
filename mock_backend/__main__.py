"""Serve the mock: ``python -m mock_backend [--port 5000] [--tls-port 5443] [--db PATH]``.

Plain HTTP carries everything. The same app is also served over HTTPS with a throw-away
certificate, because Microsoft's identity libraries (MSAL, azure-identity) and the Key Vault client
refuse to talk to anything but an ``https://`` authority.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading

from werkzeug.serving import make_server

from mock_backend import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mock_backend", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("MOCK_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOCK_PORT", "5000")))
    parser.add_argument(
        "--tls-port",
        type=int,
        default=int(os.environ.get("MOCK_TLS_PORT", "5443")),
        help="HTTPS port for the identity endpoints (0: none)",
    )
    parser.add_argument("--db", default=os.environ.get("MOCK_DB_PATH", "mock_backend.sqlite"))
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    app = create_app(args.db, public_url=os.environ.get("MOCK_PUBLIC_URL", f"http://localhost:{args.port}"))
    servers = [make_server(args.host, args.port, app, threaded=True)]
    if args.tls_port:
        servers.append(make_server(args.host, args.tls_port, app, threaded=True, ssl_context="adhoc"))
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"mock backend on http://{args.host}:{args.port} (db {args.db})", flush=True)
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.server_close()


if __name__ == "__main__":
    main()
