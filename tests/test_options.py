"""commands/_options.py and flags.py: every command's CLI is generated from its dataclasses, with
one table of flag names, and errors name exactly the flags the user typed."""

import dataclasses
import re
from pathlib import Path

import pytest

import charwise.commands as commands_pkg
from charwise.cli import build_parser, main
from charwise.commands._options import field_help
from charwise.commands.compare import CompareCommand
from charwise.commands.evaluate import EvalCommand
from charwise.commands.flags import flag
from charwise.commands.info import InfoCommand
from charwise.commands.inspect import InspectCommand
from charwise.commands.ngram import NGramCommand
from charwise.commands.sample import SampleCommand
from charwise.commands.serve import ServeCommand
from charwise.commands.train import TrainCommand
from charwise.config import DataConfig, ModelConfig, TrainConfig
from charwise.experiments.compare import CompareConfig
from charwise.inspect.report import ReportOptions
from charwise.ngram import NGramConfig
from charwise.reference.lstm import LSTMTrainConfig
from charwise.reference.rnn import RNNTrainConfig
from charwise.use.sampling import SampleOptions
from charwise.web.app import ServeLimits

COMMANDS = {
    ("train",): [TrainCommand, DataConfig, ModelConfig, TrainConfig],
    ("sample",): [SampleOptions, SampleCommand],
    ("eval",): [EvalCommand],
    ("info",): [InfoCommand],
    ("inspect",): [InspectCommand, ReportOptions],
    ("serve",): [ServeCommand, ServeLimits],
    ("ngram",): [NGramConfig, NGramCommand, DataConfig],
    ("compare",): [CompareConfig, CompareCommand, DataConfig],
    ("reference", "rnn"): [RNNTrainConfig],
    ("reference", "lstm"): [LSTMTrainConfig],
}
POSITIONAL = {"sources", "vocab_size"}  # the text arguments; set from the data


def _subparser(path):
    p = build_parser()
    for name in path:
        sub = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
        p = sub.choices[name]
    return p


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_field_is_an_option_with_its_comment_as_help(path):
    options = {s: a for a in _subparser(path)._actions for s in a.option_strings}
    for cls in COMMANDS[path]:
        helps = field_help(cls)
        for f in dataclasses.fields(cls):
            if f.name in POSITIONAL:
                continue
            action = options.get(flag(f.name))
            assert action is not None, f"{' '.join(path)} lacks {flag(f.name)} ({cls.__name__})"
            assert action.dest == f.name
            assert helps.get(f.name), f"{cls.__name__}.{f.name} has no comment to be its help"
            assert action.help.startswith(helps[f.name].replace("%", "%%"))


def test_field_help_reads_comments_of_wrapped_fields():
    @dataclasses.dataclass
    class Wrapped:
        a: int = 1  # the first
        b: tuple[int, ...] = dataclasses.field(
            default=(1,),
        )  # the second, on the last line of a wrapped field

    assert field_help(Wrapped) == {
        "a": "the first",
        "b": "the second, on the last line of a wrapped field",
    }


def _error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("charwise: error: "), err
    return err.strip()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sample", "{run}", "--top-k", "0"], "--top-k must be at least 1, not 0"),
        (["sample", "{run}", "-t", "nan"], "--temperature must be a number, not nan"),
        (["sample", "{run}", "--precision", "fp16"], "unknown --precision 'fp16'"),
        (["sample", "{run}", "--temperature", "0"], "--temperature must be positive (use --argmax"),
        (["eval", "{run}", "--split", "dev"], "unknown --split 'dev'"),
        (["inspect", "{run}", "--temperatures", "1,-1"], "--temperatures must all be positive"),
        (["inspect", "{run}", "--seed", "-3"], "--seed must be an integer in [0, 2**63)"),
        (["serve", "{run}", "--max-text", "0"], "--max-text must be at least 1"),
        (["serve", "{run}", "--port", "70000"], "--port must be in [0, 65535]"),
        (["ngram", "{text}", "--order", "0"], "--order must be in [1, 64], not 0"),
        (["compare", "{text}", "--models", "gru,cnn"], "unknown --models 'cnn'"),
        (["compare", "{text}", "--orders", "3,x"], "--orders needs comma-separated numbers"),
        (["train", "{text}", "--out", "{tmp}/r", "--split", "0.5,0.6,0.1"], "--split fractions"),
        (["train", "{text}", "--out", "{tmp}/r", "--max-vocab", "1"], "--max-vocab must be at"),
        (["reference", "rnn", "{text}", "--temperature", "-1"], "--temperature must be positive"),
    ],
)
def test_errors_name_the_flags_typed(argv, message, overfit_run, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("some text to read\n" * 20, encoding="utf-8")
    subs = {"{run}": str(overfit_run[0]), "{text}": str(text), "{tmp}": str(tmp_path)}
    argv = [re.sub(r"\{\w+\}", lambda m: subs[m.group(0)], a) for a in argv]
    assert message in _error(argv, capsys)


def test_a_library_error_naming_two_fields_names_two_flags(overfit_run, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat\n" * 20, encoding="utf-8")
    argv = ["train", str(text), "--out", str(tmp_path / "ft"), "--init-from", str(overfit_run[0])]
    line = _error([*argv, "--max-vocab", "5"], capsys)
    assert "--max-vocab cannot be given with --init-from" in line


def test_commands_never_branch_on_the_model_kind():
    # Every kind answers the same Run interface (runs/run.py); a command that asked which kind
    # it holds would have to change for every new kind.
    for path in Path(commands_pkg.__file__).parent.glob("*.py"):
        src = path.read_text(encoding="utf-8")
        branch = r"\bkind\s*[!=]=|[!=]=\s*\S*\.kind\b|[!=]=\s*\"ngram\"|isinstance\([^)]*Run\b"
        assert not re.search(branch, src), path.name
