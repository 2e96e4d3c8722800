"""`charwise serve RUN_DIR [RUN_DIR...]`: a local web page to sample and look inside runs."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass

import uvicorn

from ..errors import CharwiseError
from ..fields import option
from ..web.app import ServeLimits, create_app
from ._options import add_options, build


@dataclass(frozen=True)
class ServeCommand:
    """Where `charwise serve` listens; what each request may ask is ServeLimits'."""

    # 0.0.0.0 exposes the page to the network.
    host: str = option("127.0.0.1", nonempty=True)  # address to bind (this machine only)
    port: int = option(8000, ge=0, le=65535)  # port; 0 picks a free one
    device: str = "cpu"  # where the model runs: cpu, cuda, cuda:N, mps or auto


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="a local web page: sample interactively, see predictions and cells",
        description="Serve a page where you type a prime and watch the sample stream in, and "
        "paste text to see the model's guesses and its cells light up. Binds "
        "127.0.0.1 (this machine only) unless --host says otherwise.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories to serve")
    add_options(p, ServeCommand)
    add_options(p, ServeLimits)
    p.set_defaults(func=run)


def run(args) -> int:
    """Load the runs and serve the page until Ctrl-C."""
    cmd, limits = build(args, ServeCommand), build(args, ServeLimits)
    # We bind the socket ourselves and hand it to uvicorn: a bad address fails with one line,
    # the port is ours while the runs load, and with --port 0 we know (and print) the port the
    # system picked instead of "0".
    sock = _bind(cmd.host, cmd.port)
    with sock:
        app = create_app(args.run_dirs, limits, device=cmd.device)
        _serve(app, sock, cmd.host)
    return 0


def _serve(app, sock: socket.socket, host: str) -> None:
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
