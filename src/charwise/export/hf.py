"""Hugging Face: a model folder the Hub and `huggingface_hub` recognise, loadable offline.

    config.json        {"model": ModelConfig's fields, "vocab": the vocabulary, ...}
    model.safetensors  the weights (CharRNN's state_dict)
    README.md          the model card: YAML metadata (library, tags, training text, validation
                       loss) and a sample

    model = HubCharRNN.from_pretrained("exported/")   # a local folder: no network
    model.vocab                                        # the Vocab, from config.json
    model.save_pretrained("elsewhere/")

HubCharRNN is a CharRNN with huggingface_hub's PyTorchModelHubMixin: its __init__ arguments
(the model config and the vocabulary) are what the mixin stores in config.json and passes back
on loading. A local folder is read without the network; a Hub id is huggingface_hub's own
download (HF_HUB_OFFLINE=1 forbids it). Uploading is the user's `hf upload` step.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin
from safetensors.torch import load_file, save_file

from .. import __version__
from ..atomic import atomic_write
from ..config import ModelConfig
from ..data.vocab import Vocab
from ..errors import CharwiseError
from ..nn.model import CharRNN
from ..runs.rnn import load_weights_into
from .card import TAGS, RunSummary, model_card
from .check import Check

FORMAT = "charwise-hf"
FORMAT_VERSION = 1


class HubCharRNN(
    CharRNN,
    PyTorchModelHubMixin,
    library_name="charwise",
    pipeline_tag="text-generation",
    tags=list(TAGS),
):
    """A CharRNN that saves to and loads from a Hugging Face model folder, vocabulary included.

    model: the network's config (ModelConfig or its dict); vocab: the vocabulary as the dict of
    vocab.json (Vocab.to_json), which is how config.json stores it.
    """

    def __init__(self, model: ModelConfig, vocab: dict):
        cfg = model if isinstance(model, ModelConfig) else ModelConfig(**model)
        super().__init__(cfg)
        self.vocab = Vocab.from_json(json.dumps(vocab), source="config.json's vocab")
        if self.vocab.size != cfg.vocab_size:
            raise CharwiseError("config.json: the model and the vocabulary disagree on its size")

    @classmethod
    def from_model(cls, model: CharRNN, vocab: Vocab) -> HubCharRNN:
        """A HubCharRNN holding a copy of `model`'s weights (on the CPU) and `vocab`."""
        hub = cls(model.cfg, json.loads(vocab.to_json()))
        hub.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
        return hub.eval()

    def _save_pretrained(self, save_directory: Path) -> None:
        """The weights and config.json (the mixin's, plus the format and charwise version)."""
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(save_directory / "model.safetensors"), metadata={"format": "pt"})
        config = {
            **self._hub_mixin_config,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "charwise_version": __version__,
        }
        atomic_write(
            save_directory / "config.json", json.dumps(config, indent=2, ensure_ascii=False)
        )

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        map_location: str = "cpu",
        strict: bool = True,
        **kwargs: Any,
    ) -> HubCharRNN:
        """A local folder: charwise's own checked load (every weight present, right shapes,
        finite), silent. Anything else goes to the mixin (the Hub, huggingface_hub's cache)."""
        hub_args = ("revision", "cache_dir", "force_download", "local_files_only", "token")
        if not os.path.isdir(model_id):
            return super()._from_pretrained(
                model_id=model_id, map_location=map_location, strict=strict, **kwargs
            )
        model_kwargs = {k: v for k, v in kwargs.items() if k not in hub_args}
        model = cls(**model_kwargs)
        path = Path(model_id) / "model.safetensors"
        if not path.exists():
            raise CharwiseError(f"{model_id} has no model.safetensors")
        load_weights_into(model, load_file(str(path)), path)
        return model.to(map_location).eval()

    def generate_model_card(self, *args: Any, summary: RunSummary | None = None, **kwargs: Any):
        """The card save_pretrained writes when the folder has none: charwise's card of the run
        where a summary is given (the export passes one), else the mixin's generic card."""
        if summary is None:
            return super().generate_model_card(*args, **kwargs)
        return ModelCard(model_card(summary, USAGE))


@torch.inference_mode()
def check_hf(model: CharRNN, folder: Path, ids: list[int]) -> Check:
    """Load `folder` back with from_pretrained and compare its logits over `ids` (one window,
    one stream) with `model`'s."""
    loaded = HubCharRNN.from_pretrained(str(folder))
    device = model.head.weight.device
    x = torch.tensor([ids], device=device)
    want, _ = model(x)
    got, _ = loaded(x.cpu())
    return Check("from_pretrained", len(ids), float((got - want.cpu()).abs().max()))


def write_hf(model: CharRNN, vocab: Vocab, folder: Path, summary: RunSummary) -> list[str]:
    """config.json, model.safetensors and README.md in `folder`; returns the names written."""
    (folder / "README.md").unlink(missing_ok=True)  # save_pretrained keeps an existing card
    hub = HubCharRNN.from_model(model, vocab)
    hub.save_pretrained(folder, model_card_kwargs={"summary": summary})
    return ["config.json", "model.safetensors", "README.md"]


USAGE = """
## Use it

```python
from charwise import HubCharRNN, SampleOptions, generate   # pip install 'charwise[export]'

model = HubCharRNN.from_pretrained("path/to/this/folder")   # a local folder: no network
print(generate(model, model.vocab, SampleOptions(length=300, temperature=0.8, seed=0))[0])
```

`HubCharRNN` is charwise's `CharRNN` (`model.step`, `model(x, state)`) with
`huggingface_hub`'s `PyTorchModelHubMixin`: `from_pretrained` / `save_pretrained`, the
vocabulary stored in `config.json` and returned as `model.vocab`.

To share it on the Hugging Face Hub (your account, your token; charwise never uploads):

```bash
hf auth login
hf upload YOUR_NAME/MODEL_NAME path/to/this/folder .
```

(`huggingface-cli login` and `huggingface-cli upload` with huggingface_hub before 1.0.)

After that, `HubCharRNN.from_pretrained("YOUR_NAME/MODEL_NAME")` downloads it through
`huggingface_hub` (set `HF_HUB_OFFLINE=1` to forbid any download).
"""
