"""charwise: character-level language models (LSTM / GRU / RNN) on PyTorch.

import charwise
result = charwise.train(charwise.RunConfig(...), "runs/x")  # a TrainResult; or: charwise train
run = charwise.load("runs/x")
print(charwise.sample(run, length=200, prime="The "))
"""

__version__ = "0.1.0"

_API = {
    "load": "runs.format",
    "Run": "runs.format",
    "CharRNN": "nn.model",
    "Vocab": "data.vocab",
    "ModelConfig": "config",
    "TrainConfig": "config",
    "DataConfig": "config",
    "RunConfig": "config",
    "CharwiseError": "errors",
    "train": "training.lifecycle",
    "resume": "training.lifecycle",
    "TrainResult": "training.events",
    "Callbacks": "training.events",
    "SampleOptions": "use.sampling",
    "EvalResult": "use.evaluate",
    "sample": "use.sampling",
    "generate": "use.sampling",
    "evaluate": "use.evaluate",
    "evaluate_text": "use.evaluate",
    "load_corpus": "data.corpus",
}


def __getattr__(name):
    # Lazy: `import charwise` stays cheap (no torch import) until the API is used.
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'charwise' has no attribute {name!r}")


__all__ = sorted(_API) + ["__version__"]
