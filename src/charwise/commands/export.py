"""`charwise export RUN --to DIR --format hf|onnx|web`: share a run outside charwise."""

from __future__ import annotations

from ..export import ExportOptions, export_run
from ._options import add_options, build

NEXT = {
    "hf": "load it: HubCharRNN.from_pretrained('{to}'); share it: hf upload YOUR_NAME/NAME {to} .",
    "onnx": "run it with onnxruntime: see {to}/README.md",
    "web": "serve it: python -m http.server --directory {to} 8000, then open "
    "http://127.0.0.1:8000/",
}


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a run as a Hugging Face folder, an ONNX graph or a web page",
        description="Share a trained RNN run: hf (a Hugging Face model folder with a model "
        "card, loaded with HubCharRNN.from_pretrained), onnx (the one-step graph for "
        "onnxruntime, with the vocabulary), web (a page that samples in the browser alone, "
        "served by any static file server). Each export is loaded back and checked against "
        "the run. Needs the export extra: pip install 'charwise[export]'.",
    )
    p.add_argument("run_dir", help="run directory written by `charwise train`")
    add_options(p, ExportOptions)
    p.set_defaults(func=run)


def run(args) -> int:
    """Export the run, check it, and say how to use what was written."""
    opts = build(args, ExportOptions)
    result = export_run(args.run_dir, opts)
    size = sum((result.folder / f).stat().st_size for f in result.files)
    print(
        f"wrote {result.folder} ({result.format}, {len(result.files)} files, "
        f"{size / 1e6:.1f} MB): {', '.join(result.files)}"
    )
    if result.check is not None:
        c = result.check
        print(
            f"checked: {c.what}'s logits within {c.max_diff:.1e} of the run's over "
            f"{c.chars} characters"
        )
    print(NEXT[result.format].format(to=result.folder))
    return 0
