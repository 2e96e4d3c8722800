"""charwise: character-level language models (LSTM / GRU / RNN) on PyTorch.

import charwise
run = charwise.train(charwise.RunConfig(...), "runs/x")    # or the CLI: charwise train
run = charwise.load("runs/x")
print(charwise.sample(run, length=200, prime="The "))
"""

__version__ = "0.1.0"

_API = {
    "load": "checkpoint",
    "Run": "checkpoint",
    "CharRNN": "model",
    "Vocab": "vocab",
    "ModelConfig": "config",
    "TrainConfig": "config",
    "DataConfig": "config",
    "RunConfig": "config",
    "CharwiseError": "errors",
    "train": "train",
    "resume": "train",
    "sample": "sampling",
    "generate": "sampling",
    "evaluate": "evaluate",
    "evaluate_text": "evaluate",
    "load_corpus": "corpus",
}


def __getattr__(name):
    # Lazy: `import charwise` stays cheap (no torch import) until the API is used.
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'charwise' has no attribute {name!r}")


__all__ = sorted(_API) + ["__version__"]
