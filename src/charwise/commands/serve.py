"""`charwise serve RUN_DIR [RUN_DIR...]`: a local web page to sample and look inside runs."""

from __future__ import annotations

import socket
import sys

from ..errors import CharwiseError
from ..web.app import ServeLimits, create_app


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="a local web page: sample interactively, see predictions and cells",
        description="Serve a page where you type a prime and watch the sample stream in, and "
        "paste text to see the model's guesses and its cells light up. Binds "
        "127.0.0.1 (this machine only) unless --host says otherwise.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories to serve")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)",
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument(
        "--max-text",
        type=int,
        default=ServeLimits.max_text,
        help=f"characters analysed per request (default {ServeLimits.max_text})",
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=ServeLimits.max_length,
        help=f"characters sampled per request (default {ServeLimits.max_length})",
    )
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")
    p.set_defaults(func=run)


def run(args) -> int:
    if not 0 <= args.port <= 65535:
        raise CharwiseError("--port must be in 0..65535")
    # We bind the socket ourselves and hand it to uvicorn: a bad address fails with one line,
    # the port is ours while the runs load, and with --port 0 we know (and print) the port the
    # system picked instead of "0".
    sock = _bind(args.host, args.port)
    with sock:
        app = create_app(
            args.run_dirs,
            ServeLimits(max_text=args.max_text, max_length=args.max_length),
            device=args.device,
        )
        _serve(app, sock, args.host)
    return 0


def _serve(app, sock: socket.socket, host: str) -> None:
    import uvicorn

    port = sock.getsockname()[1]
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"charwise: warning: serving on {host}: anyone who can reach this address can "
            "use the page",
            file=sys.stderr,
        )
    url_host = f"[{host}]" if ":" in host else host  # an IPv6 address goes in brackets in a URL
    print(
        f"charwise: serving {', '.join(app.state.runs)} on http://{url_host}:{port}/ "
        "(Ctrl-C stops)",
        file=sys.stderr,
        flush=True,  # a script waiting for the URL (stderr may be a pipe) sees it now
    )
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # as uvicorn.run does: Ctrl-C during startup/shutdown is quiet
        pass


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, for uvicorn to listen on; fails with one line (not
    uvicorn's log and exit) when the address cannot be bound."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise CharwiseError(f"cannot resolve --host {host}: {e.strerror}") from None
    family, _, _, _, addr = infos[0]
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's own bind does
        s.bind(addr)
    except OSError as e:
        s.close()
        raise CharwiseError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    return s
