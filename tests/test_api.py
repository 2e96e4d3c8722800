"""The package's lazy top-level API."""

import subprocess
import sys


def test_api_functions_stay_functions_after_their_modules_are_imported():
    # A fresh interpreter: in this one the submodules are imported already. Importing the
    # submodule of the same name as an API function made it a package attribute, which shadowed
    # the function; the functions' modules are now named otherwise, and must stay so.
    code = (
        "import inspect, charwise\n"
        "first = charwise.train\n"
        "import charwise.training.lifecycle, charwise.use.evaluate, charwise.commands.train\n"
        "for f in (first, charwise.train, charwise.evaluate, charwise.resume):\n"
        "    assert inspect.isfunction(f), f\n"
        "from charwise import train, evaluate\n"
        "assert inspect.isfunction(train) and inspect.isfunction(evaluate)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# -- the library used directly: what an engineer's own script does -------------------------------
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import charwise  # noqa: E402
from charwise.config import DataConfig, ModelConfig, TrainConfig  # noqa: E402
from charwise.errors import CharwiseError  # noqa: E402
from charwise.fields import FieldError  # noqa: E402
from charwise.nn.model import CharRNN  # noqa: E402


def test_exported_types_are_the_ones_the_functions_take_and_return():
    from charwise.training.events import Callbacks, TrainResult
    from charwise.use.evaluate import EvalResult
    from charwise.use.sampling import SampleOptions

    assert charwise.SampleOptions is SampleOptions and charwise.EvalResult is EvalResult
    assert charwise.TrainResult is TrainResult and charwise.Callbacks is Callbacks


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_step_and_forward_run_in_the_dtype_the_model_was_cast_to(kind, dtype):
    m = CharRNN(ModelConfig(vocab_size=7, kind=kind, layers=2, hidden=8, embed=4)).to(dtype).eval()
    state = m.init_state(3)
    assert all(s.dtype == dtype for s in state)
    logits, state = m.step(torch.tensor([1, 2, 3]), None)
    assert logits.dtype == dtype and logits.shape == (3, 7)
    logits, _ = m(torch.tensor([[1, 2, 3]]), m.init_state(1))
    assert logits.dtype == dtype and logits.shape == (1, 3, 7)


def test_step_takes_any_integer_ids_and_refuses_bad_ones_clearly():
    m = CharRNN(ModelConfig(vocab_size=5, kind="gru", layers=1, hidden=8, embed=4)).eval()
    ids = np.array([1, 4, 0], dtype=np.uint8)  # what Vocab.encode returns
    ref, _ = m.step(torch.tensor([1, 4, 0]))
    got, _ = m.step(torch.from_numpy(ids))
    assert torch.equal(got, ref)
    with pytest.raises(CharwiseError, match="outside the vocabulary"):
        m.step(torch.tensor([5]))
    with pytest.raises(CharwiseError, match="outside the vocabulary"):
        m(torch.tensor([[0, -1]]))
    with pytest.raises(CharwiseError, match="integer character ids"):
        m.step(torch.tensor([1.0]))
    with pytest.raises(CharwiseError, match="dimension"):
        m.step(torch.tensor([[1, 2]]))
    # A batch-1 x against a batch-3 state broadcast silently to (3, V) logits before.
    with pytest.raises(CharwiseError, match=r"init_state\(1\)"):
        m.step(torch.tensor([1]), m.init_state(3))


def test_sampling_without_a_seed_leaves_the_callers_generator_alone(overfit_run):
    run = charwise.load(overfit_run[0])
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    charwise.sample(run, length=5)
    charwise.load(overfit_run[0])  # its throwaway initialisation must not draw either
    assert torch.equal(torch.rand(3), expected)


def test_sampling_gives_back_the_models_training_mode(overfit_run):
    run = charwise.load(overfit_run[0])
    run.model.train()
    charwise.sample(run, length=5, seed=1)
    assert run.model.training
    run.model.eval()
    charwise.sample(run, length=5, seed=1)
    assert not run.model.training


def test_one_path_is_one_source(overfit_run, tmp_path):
    run_dir, text = overfit_run
    p = tmp_path / "t.txt"
    p.write_text(text, encoding="utf-8")
    assert DataConfig(sources=str(p)).sources == (str(p),)
    assert DataConfig(sources=p).sources == (str(p),)
    run = charwise.load(run_dir)
    one = charwise.evaluate_text(run, str(p))
    assert one.chars == charwise.evaluate_text(run, [p]).chars == len(text) - 1


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"seed": 1.5}, "^seed must be an integer"),
        ({"seed": True}, "^seed must be an integer"),
        ({"batch_size": "8"}, "^batch_size must be an integer"),
        ({"amp": 1}, "^amp must be true or false"),
    ],
)
def test_wrongly_typed_settings_are_refused_up_front(kw, message):
    # The library names the field as Python spells it; the CLI words it with its flag.
    with pytest.raises(FieldError, match=message) as e:
        TrainConfig(**kw)
    assert e.value.field == next(iter(kw))


def test_numbers_of_other_numeric_types_are_taken():
    tc = TrainConfig(max_steps=np.int64(3), max_time=np.float64(2.0), lr=1)
    assert tc.max_steps == 3 and tc.lr == 1
    with pytest.raises(CharwiseError, match="^hidden must be an integer, not 32.0"):
        ModelConfig(vocab_size=5, hidden=32.0)


def test_load_refuses_unknown_weights_and_a_missing_gpu(overfit_run):
    with pytest.raises(CharwiseError, match="'best' or 'last'"):
        charwise.load(overfit_run[0], weights="newest")
    if not torch.cuda.is_available():
        with pytest.raises(CharwiseError, match="no CUDA GPU"):
            charwise.load(overfit_run[0], device=torch.device("cuda"))


def test_library_calls_with_the_wrong_kind_of_argument_get_one_clear_error(overfit_run, tmp_path):
    run_dir, text = overfit_run
    run = charwise.load(run_dir)
    # A path is loaded for you; the sample is the loaded run's.
    assert charwise.sample(str(run_dir), length=12, seed=3) == charwise.sample(
        run, length=12, seed=3
    )
    with pytest.raises(CharwiseError, match="takes a loaded run"):
        charwise.sample(run.model, length=5)
    with pytest.raises(CharwiseError, match="^length must be an integer"):
        charwise.sample(run, length=2.5)
    with pytest.raises(CharwiseError, match="^prime must be a string"):
        charwise.sample(run, prime=5)
    with pytest.raises(CharwiseError, match="opts must be a SampleOptions"):
        charwise.generate(run.model, run.vocab, {"length": 5})
    with pytest.raises(CharwiseError, match="cfg must be a charwise.RunConfig"):
        charwise.train({"model": {}}, tmp_path / "out")
    with pytest.raises(CharwiseError, match="integer character ids"):
        charwise.evaluate(run, "The cat sat")
    ids = run.vocab.encode(text)
    flat = charwise.evaluate(run, ids)
    assert charwise.evaluate(run, ids[None]).nats_per_char == pytest.approx(flat.nats_per_char)
