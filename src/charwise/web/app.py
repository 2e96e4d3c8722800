"""The web app behind `charwise serve`: a Starlette ASGI app built by `create_app` (tests use it
in-process through Starlette's TestClient; the CLI runs it with uvicorn).

    GET  /                         the page (static/index.html)
    GET  /api/runs                 the runs served, with their settings and recent samples
    GET  /api/runs/{name}/curves   training curves as inline SVG
    POST /api/sample               {run, prime, temperature, top_k, top_p, length, seed,
                                   temperature_end, stop_regex, beam, length_penalty} -> the
                                   sample, streamed as plain text while it is generated; with
                                   beam, the beam's best text, sent in one piece when found
    POST /api/analyze              {run, text, features} -> predictions, activations and the
                                   interpretable cells (the viewer's JSON, see inspect/payload.py)

Model work runs in a thread pool, so the event loop keeps serving other requests while a model
samples. Every request is bounded (body size, text and sample length); a bad one gets a 4xx
JSON {"error": "..."} and never takes the server down. A field may be left out for its default;
JSON null stands for "left out" only where the default is "none" (top_k, seed, temperature_end,
stop_regex, beam), and is a 400
anywhere else (a null prime or length is a client bug, not a request for the default).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections import deque
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import CharwiseError
from ..fields import option, validate
from ..inspect.features import rank_cells
from ..inspect.payload import viewer_payload
from ..inspect.plots import read_jsonl, training_curves
from ..inspect.properties import text_properties
from ..inspect.record import RecordOptions, ranked_quantity, record_text, recorded_units
from ..runs.load import load
from ..runs.rnn import RNNRun, cell_name
from ..runs.run import Run
from ..use.sampling import SampleOptions, encode_prime


@dataclass(frozen=True)
class ServeLimits:
    max_body: int = option(64_000, ge=1)  # bytes of one request body
    max_text: int = option(3000, ge=1)  # characters analysed per request, for any run
    # An analysis replies ~1.4 bytes per unit per character (inspect/payload.py), so a run's
    # text limit is this over its units: the default GRU's 2x512 keeps max_text's 3,000
    # characters (~4 MB), a default transformer's 4x1024 MLP units get 750 (not ~16 MB at 3,000).
    max_unit_chars: int = option(3_072_000, ge=1)  # units x characters analysed per request
    max_length: int = option(5000, ge=1)  # characters sampled per request
    # Beam search is not streamed and runs to its end even if the client leaves: width x length
    # steps of the model, so its width is bounded as the length is.
    max_beam: int = option(32, ge=1)  # beam width per request
    max_prime: int = option(2000, ge=1)  # characters of a prime
    max_features: int = option(10, ge=0)  # user features (NAME=REGEX) per analysis

    def __post_init__(self) -> None:
        validate(self)


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _Stop(Exception):
    """Raised inside the sampler when the client went away."""


# The body fields of POST /api/sample: SampleOptions' fields the page offers.
SAMPLE_FIELDS = (
    "prime",
    "length",
    "temperature",
    "top_k",
    "top_p",
    "seed",
    "temperature_end",
    "stop_regex",
    "beam",
    "length_penalty",
)


def _err(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _static(name: str, package: str = "charwise.web") -> str:
    base = resources.files(package)
    return base.joinpath(name).read_text(encoding="utf-8")


def _run_names(run_dirs: list[str | Path]) -> dict[str, Path]:
    names: dict[str, Path] = {}
    for d in run_dirs:
        d = Path(d)
        name, i = d.resolve().name or "run", 2
        while name in names:
            name, i = f"{d.resolve().name}-{i}", i + 1
        names[name] = d
    return names


def text_limit(units: int, limits: ServeLimits) -> int:
    """The most characters /api/analyze takes for a run of `units` units (recorded_units):
    max_text, or fewer where units x characters would pass max_unit_chars. At least 2, the
    fewest an analysis needs."""
    return min(limits.max_text, max(2, limits.max_unit_chars // units))


def _describe(name: str, run: Run, limits: ServeLimits) -> dict:
    m = run.config["model"]
    samples = read_jsonl(Path(run.path) / "samples.jsonl")
    val = run.info.get("val_loss")
    max_text = None
    if run.inspectable:
        max_text = text_limit(recorded_units(run.inspect_model().cfg), limits)
    return {
        "name": name,
        "kind": m["kind"],
        # The cell as people name it ("LN-GRU", "Mogrifier GRU (4 rounds)"), RNNs only.
        "cell": cell_name(run.model.cfg) if isinstance(run, RNNRun) else None,
        "layers": m.get("layers"),
        "hidden": m.get("hidden"),
        "vocab_size": run.vocab.size,
        "params": run.config.get("params"),
        "val_bpc": None if val is None else val / math.log(2),
        "step": run.info.get("step"),
        "inspectable": run.inspectable,
        "max_text": max_text,  # characters the page may analyse (None: nothing to inspect)
        "last_sample": samples[-1]["text"] if samples else "",
    }


def create_app(
    run_dirs: list[str | Path], limits: ServeLimits | None = None, device: str = "cpu"
) -> Starlette:
    """Load the runs (CharwiseError if one cannot be loaded) and build the app."""
    if not run_dirs:
        raise CharwiseError("give at least one run directory to serve")
    limits = limits or ServeLimits()
    runs = {name: load(d, device=device) for name, d in _run_names(run_dirs).items()}

    async def body_json(request: Request) -> dict:
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > limits.max_body):
            raise ApiError(413, f"the request body is over {limits.max_body} bytes")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limits.max_body:
                raise ApiError(413, f"the request body is over {limits.max_body} bytes")
        try:
            d = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ApiError(400, "the request body is not valid JSON") from None
        if not isinstance(d, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return d

    def get_run(d: dict) -> tuple[str, Run]:
        name = d.get("run", next(iter(runs)))
        if not isinstance(name, str):
            raise ApiError(400, "run must be a string (a run's name)")
        if name not in runs:
            raise ApiError(404, f"no run named {name!r}; served: {', '.join(runs)}")
        return name, runs[name]

    def text_field(d: dict, key: str) -> str:
        """A text field of the body ("" when left out); null or another type is a 400."""
        v = d.get(key, "")
        if not isinstance(v, str):
            raise ApiError(400, f"{key} must be a string")
        return v

    async def index(request: Request) -> Response:
        return HTMLResponse(_static("static/index.html"))

    async def viewer_asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("viewer.js", "viewer.css"):
            raise ApiError(404, f"no such file: {name}")
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(_static(name, "charwise.inspect"), media_type=media)

    async def list_runs(request: Request) -> Response:
        return JSONResponse(
            {"runs": [_describe(n, r, limits) for n, r in runs.items()], "limits": limits.__dict__}
        )

    async def curves(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in runs:
            raise ApiError(404, f"no run named {name!r}")
        log = await run_in_threadpool(read_jsonl, Path(runs[name].path) / "log.jsonl")
        return JSONResponse({"svg": training_curves(log)})

    async def sample(request: Request) -> Response:
        d = await body_json(request)
        _, run = get_run(d)
        # The page's fields are SampleOptions' own (checked there, errors worded with the JSON
        # names, which are the fields'); the server adds its limits on top.
        given = {k: d[k] for k in SAMPLE_FIELDS if k in d}
        opts = SampleOptions(**{"length": 300, **given})
        if not 1 <= opts.length <= limits.max_length:
            raise ApiError(400, f"length must be between 1 and {limits.max_length}")
        if len(opts.prime) > limits.max_prime:
            raise ApiError(413, f"the prime is over {limits.max_prime} characters")
        if opts.beam is not None and opts.beam > limits.max_beam:
            raise ApiError(400, f"beam must be between 1 and {limits.max_beam}")
        # unknown characters: a 400 now, not a 200 whose stream ends in an error.
        encode_prime(run.vocab, opts.prime)
        # Beam search goes through the same stream: its one on_text call (the best text, at the
        # end) arrives as the stream's one piece, so the page reads both alike.
        return StreamingResponse(
            _stream(run, opts),
            media_type="text/plain; charset=utf-8",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    async def _stream(run: Run, opts: SampleOptions):
        """Run the sampler in a worker thread; yield its text as it comes, in whatever pieces
        have piled up since the last send. A str is text, an Exception a failure, None the end."""
        loop = asyncio.get_running_loop()
        pending: deque = deque()
        ready = asyncio.Event()
        stop = threading.Event()

        def put(item) -> None:
            pending.append(item)  # deque appends are thread-safe
            loop.call_soon_threadsafe(ready.set)

        def on_text(_stream: int, piece: str) -> None:
            if stop.is_set():
                raise _Stop
            put(piece)

        def work() -> None:
            try:
                run.generate(opts, on_text)
            except _Stop:
                pass
            except Exception as e:  # noqa: BLE001 - reported in the stream; the server goes on
                put(e)
            finally:
                put(None)

        task = asyncio.ensure_future(run_in_threadpool(work))
        try:
            while True:
                await ready.wait()
                ready.clear()
                text, done = [], False
                while pending:
                    item = pending.popleft()
                    if isinstance(item, str):
                        text.append(item)
                        continue
                    done = True
                    if isinstance(item, Exception):
                        text.append(f"\n[charwise: sampling failed: {item}]")
                if text:
                    yield "".join(text)
                if done:
                    break
        finally:
            stop.set()  # the client left (or we are done): the sampler stops at its next character
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def analyze(request: Request) -> Response:
        d = await body_json(request)
        name, run = get_run(d)
        model = run.inspect_model()  # a 400 for a run without a network (an n-gram)
        text = text_field(d, "text")
        units = recorded_units(model.cfg)
        most = text_limit(units, limits)
        if len(text) > most:
            msg = f"the text is over {most} characters, the limit for run {name!r}"
            if most < limits.max_text:  # the run's units set it
                budget = limits.max_unit_chars
                msg += f" ({units:,} units; a reply carries at most {budget:,} units x characters)"
            raise ApiError(413, msg)
        features = d.get("features", [])
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ApiError(400, "features must be a list of 'NAME=REGEX' strings")
        if len(features) > limits.max_features:
            raise ApiError(400, f"at most {limits.max_features} features")

        def work() -> dict:
            rec, skipped = record_text(
                run, text, RecordOptions(top_k=5, quantities=(ranked_quantity(model),))
            )
            if rec.n < 2:
                raise CharwiseError("the text needs at least 2 characters the model knows")
            interp = rank_cells(rec, text_properties(rec.chars, features))
            return {**viewer_payload(rec, interp), "skipped": skipped}

        return JSONResponse(await run_in_threadpool(work))

    async def api_error(request: Request, exc: ApiError) -> Response:
        return _err(exc.status, exc.message)

    async def user_error(request: Request, exc: CharwiseError) -> Response:
        # A FieldError's own message names the fields as the JSON body does.
        return _err(400, str(exc))

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _err(exc.status_code, exc.detail or "error")

    async def server_error(request: Request, exc: Exception) -> Response:
        return _err(500, f"internal error ({type(exc).__name__}); the server keeps running")

    static_dir = resources.files("charwise.web").joinpath("static")
    routes = [
        Route("/", index),
        Route("/api/runs", list_runs),
        Route("/api/runs/{name}/curves", curves),
        Route("/api/sample", sample, methods=["POST"]),
        Route("/api/analyze", analyze, methods=["POST"]),
        Route("/viewer/{name}", viewer_asset),
        Mount("/static", StaticFiles(directory=str(static_dir)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiError: api_error,
            CharwiseError: user_error,
            HTTPException: http_error,
            Exception: server_error,
        },
    )
    app.state.runs = runs
    app.state.limits = limits
    return app
