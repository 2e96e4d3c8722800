"""charwise: character-level language models (LSTM / GRU / RNN) on PyTorch.

import charwise
result = charwise.train(charwise.RunConfig(...), "runs/x")  # a TrainResult; or: charwise train
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
    "TrainResult": "train",
    "Callbacks": "train",
    "SampleOptions": "sampling",
    "EvalResult": "evaluate",
    "sample": "sampling",
    "generate": "sampling",
    "evaluate": "evaluate",
    "evaluate_text": "evaluate",
    "load_corpus": "corpus",
}


# API functions named like the submodule that defines them: importing a submodule makes it an
# attribute of the package, which would shadow the function of the same name (charwise.train would
# turn into the module after its first import).
_SHADOWED = ("train", "evaluate")


def __getattr__(name):
    # Lazy: `import charwise` stays cheap (no torch import) until the API is used.
    if name in _API:
        import importlib

        for mod in _SHADOWED:  # import them first, then pin the functions over the modules
            importlib.import_module(f".{mod}", __name__)
        for fn in _SHADOWED:
            globals()[fn] = getattr(importlib.import_module(f".{fn}", __name__), fn)
        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'charwise' has no attribute {name!r}")


__all__ = sorted(_API) + ["__version__"]
