"""fields.py: validation as field metadata, one rule set for every config, errors worded per
front end."""

from dataclasses import dataclass

import pytest

from charwise.config import DataConfig, ModelConfig, TrainConfig
from charwise.fields import SEED_LIMIT, FieldError, literal, option, require, validate
from charwise.inspect.report import ReportOptions
from charwise.ngram import NGramConfig
from charwise.reference.rnn import RNNTrainConfig
from charwise.use.sampling import SampleOptions
from charwise.web.app import ServeLimits


@dataclass(frozen=True)
class Toy:
    count: int = option(3, ge=1)  # a count
    rate: float = option(0.5, gt=0, le=1)  # a rate
    limit: float = option(1.0, gt=0, allow_inf=True)  # a limit that may be infinite
    mode: str = option("a", choices=("a", "b"))  # a choice
    sizes: tuple[int, ...] = option((1, 2), ge=1, items=True)  # some sizes
    seed: int | None = option(None, seed=True)  # a seed
    name: str = option("x", nonempty=True)  # a name

    def __post_init__(self) -> None:
        validate(self)
        require(self.count >= len(self.sizes), "count", "{count} must cover {sizes}")


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"count": 0}, "count must be at least 1, not 0"),
        ({"count": 2.0}, "count must be an integer, not 2.0"),
        ({"count": True}, "count must be an integer, not True"),
        ({"rate": 0.0}, "rate must be in (0, 1], not 0.0"),
        ({"rate": float("nan")}, "rate must be a number, not nan"),
        ({"rate": float("inf")}, "rate must be in (0, 1] and finite, not inf"),
        ({"limit": -1.0}, "limit must be positive, not -1.0"),
        ({"mode": "c"}, "unknown mode 'c'; choose one of a, b"),
        ({"sizes": (1, 0)}, "sizes must all be at least 1, not 0"),
        ({"sizes": (1, "2")}, "sizes must be a list of integers"),
        ({"seed": -1}, "seed must be an integer in [0, 2**63), not -1"),
        ({"seed": SEED_LIMIT}, "seed must be an integer in [0, 2**63)"),
        ({"name": ""}, "name must not be empty"),
        ({"count": 1, "sizes": (1, 2)}, "count must cover sizes"),
    ],
)
def test_rules_refuse_bad_values_naming_the_field(kw, message):
    with pytest.raises(FieldError) as e:
        Toy(**kw)
    assert str(e.value).startswith(message)
    assert e.value.field == next(iter(kw))


def test_good_values_pass_and_lists_become_tuples():
    t = Toy(limit=float("inf"), seed=SEED_LIMIT - 1, sizes=[3, 4], mode="b")
    assert t.sizes == (3, 4) and t.limit == float("inf")


def test_each_front_end_words_the_same_error_its_own_way():
    with pytest.raises(FieldError) as e:
        Toy(count=1, sizes=(1, 2))
    flags = {"count": "--count", "sizes": "--size"}
    assert e.value.worded(flags.get) == "--count must cover --size"
    assert e.value.worded(lambda f: f"'{f}'") == "'count' must cover 'sizes'"


def test_braces_in_values_stay_literal():
    with pytest.raises(FieldError, match=r"unknown mode '\{x\}'"):
        Toy(mode="{x}")
    err = FieldError("name", "{name} " + literal("{not a field}") + " is wrong")
    assert err.worded(lambda f: "--" + f) == "--name {not a field} is wrong"


@pytest.mark.parametrize(
    "make",
    [
        lambda s: TrainConfig(seed=s),
        lambda s: SampleOptions(seed=s),
        lambda s: ReportOptions(seed=s),
        lambda s: RNNTrainConfig(seed=s),
    ],
)
def test_one_seed_rule_everywhere(make):
    make(0)
    make(SEED_LIMIT - 1)
    for bad in (-1, SEED_LIMIT, 1.5):
        with pytest.raises(FieldError, match="^seed must be an integer"):
            make(bad)


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: ModelConfig(vocab_size=5, hidden=0), "hidden"),
        (lambda: ModelConfig(vocab_size=5, kind="cnn"), "kind"),
        (lambda: DataConfig(corpus="names", split=(0.5, 0.6, 0.1)), "split"),
        (lambda: DataConfig(corpus="names", split=(0.9, 0.1)), "split"),
        (lambda: TrainConfig(lr=float("inf")), "lr"),
        (lambda: SampleOptions(top_p=0.0), "top_p"),
        (lambda: NGramConfig(order=0), "order"),
        (lambda: ServeLimits(max_text=0), "max_text"),
        (lambda: ReportOptions(temperatures=(1.0, -1.0)), "temperatures"),
    ],
)
def test_every_config_checks_through_the_same_rules(make, field):
    with pytest.raises(FieldError) as e:
        make()
    assert e.value.field == field and "--" not in str(e.value)
