"""Exporting a run: load it, check the destination, write the format's folder, load the result
back and compare it with the run (`charwise export RUN --to DIR --format hf|onnx|web`)."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write
from ..errors import CharwiseError
from ..runs.load import load
from ..runs.run import Run
from .card import RunSummary, model_card, summarize
from .check import CHECK_CHARS, Check
from .options import ExportOptions

# The optional packages each format needs (the `export` extra installs them all).
NEEDS = {
    "hf": ("huggingface_hub",),
    "onnx": ("onnx", "onnxscript", "onnxruntime"),
    "web": ("onnx", "onnxscript", "onnxruntime"),
}


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    format: str
    files: tuple[str, ...]  # names written, relative to folder
    check: Check | None  # None with check=False


def export_run(run: str | Path | Run, opts: ExportOptions) -> ExportResult:
    """Write `run` (a run folder or a loaded Run) to opts.to in opts.format."""
    if not isinstance(run, Run):
        run = load(run)
    if not run.has_network:
        raise CharwiseError(
            f"{run.path} is {run.label}: only RNN runs export to {opts.format} (the formats "
            "carry a network); share the run folder itself, it is self-contained"
        )
    _require(opts)
    folder = _prepare(Path(opts.to), opts.force)
    summary = summarize(run)
    module = importlib.import_module(f".{opts.format}", __package__)
    if opts.format == "hf":
        files = module.write_hf(run.model, run.vocab, folder, summary)
    else:
        if opts.format == "onnx":
            files = module.write_onnx(run.model, run.vocab, folder)
        else:
            files = module.write_web(run.model, run.vocab, folder, summary, opts.ort_web)
        atomic_write(folder / "README.md", model_card(summary, module.USAGE))
        files.append("README.md")
    check = _check(run, folder, opts.format, summary) if opts.check else None
    if check is not None and not check.ok:
        raise CharwiseError(
            f"the exported model's logits differ from the run's by up to {check.max_diff:.2g} "
            f"({check.what}, {check.chars} characters): the export is wrong, please report it"
        )
    return ExportResult(folder, opts.format, tuple(files), check)


def _require(opts: ExportOptions) -> None:
    needed = NEEDS[opts.format] if opts.check else NEEDS[opts.format][:2]
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        raise CharwiseError(
            f"--format {opts.format} needs {', '.join(missing)}: pip install 'charwise[export]'"
        )


def _prepare(folder: Path, force: bool) -> Path:
    if folder.exists() and not folder.is_dir():
        raise CharwiseError(f"--to {folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise CharwiseError(
            f"--to {folder} is not empty; choose another folder or add --force to write over "
            "the files of the same names"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check(run: Run, folder: Path, fmt: str, summary: RunSummary) -> Check:
    """The exported model against the run over the card's sample (any ids would do; these are
    the model's own kind of text)."""
    ids = [int(i) for i in run.vocab.encode(summary.sample, strict=False)][:CHECK_CHARS]
    # Imported here, not at the top: each format needs its own optional extra (huggingface_hub,
    # onnxruntime), and exporting one format must not need the other's.
    if fmt == "hf":
        from .hf import check_hf

        return check_hf(run.model, folder, ids)
    from .onnx import check_graph

    return check_graph(run.model, folder / "model.onnx", ids)
