"""What `charwise export` is asked to do: one frozen dataclass, from which the CLI is generated."""

from __future__ import annotations

from dataclasses import dataclass

from ..fields import option, require, validate

FORMATS = ("hf", "onnx", "web")


@dataclass(frozen=True)
class ExportOptions:
    # Both required; None only so that a missing one gets charwise's message, not a TypeError.
    to: str | None = option(None, nonempty=True)  # the folder to write (empty unless --force)
    # hf: a Hugging Face folder; onnx: the one-step graph; web: a page that samples alone.
    format: str | None = option(None, choices=FORMATS)  # what to write
    force: bool = False  # write into a folder that is not empty (files of the same name replaced)
    check: bool = True  # load the export back and compare its logits with the run's
    ort_web: str | None = None  # onnxruntime-web's npm folder (web; default: the vendored copy)

    def __post_init__(self) -> None:
        validate(self)
        require(self.to is not None, "to", "export needs {to}, the folder to write")
        require(self.format is not None, "format", "export needs {format}: hf, onnx or web")
