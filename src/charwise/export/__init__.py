"""Sharing a trained run: a Hugging Face model folder, the one-step ONNX graph, or a web page
that samples in the browser alone (`charwise export RUN --to DIR --format hf|onnx|web`).

    from charwise.export import ExportOptions, export_run
    export_run("runs/shakes", ExportOptions(to="shared/shakes-web", format="web"))

Formats live in hf.py, onnx.py and web.py (the page's files in web_assets/); the model card in
card.py; where onnxruntime-web's files come from in ortweb.py. The optional packages are the
`export` extra: pip install 'charwise[export]'.
"""

from .options import FORMATS, ExportOptions
from .run import ExportResult, export_run

__all__ = ["FORMATS", "ExportOptions", "ExportResult", "export_run"]
