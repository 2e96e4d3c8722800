"""charwise: character-level language models (LSTM / GRU / RNN) on PyTorch.

import charwise
result = charwise.train(charwise.RunConfig(...), "runs/x")  # a TrainResult; or: charwise train
run = charwise.load("runs/x")
print(charwise.sample(run, length=200, prime="The "))
print(charwise.dynamic_evaluate(run, split="test").result)  # adapting while reading
"""

from .version import __version__

_API = {
    "load": "runs.load",
    "Run": "runs.run",
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
    "sample": "runs.load",
    "generate": "use.sampling",
    "evaluate": "runs.load",
    "evaluate_text": "runs.load",
    "load_corpus": "data.corpus",
    "DynamicConfig": "use.dynamic",
    "dynamic_evaluate": "runs.dynamic",
    "CacheConfig": "use.cache",
    "cache_evaluate": "runs.dynamic",
    "adapted_sample": "runs.dynamic",
    "HubCharRNN": "export.hf",  # needs the export extra (huggingface_hub)
}


def __getattr__(name):
    # Lazy: `import charwise` stays cheap (no torch import) until the API is used.
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'charwise' has no attribute {name!r}")


__all__ = sorted(_API) + ["__version__"]
