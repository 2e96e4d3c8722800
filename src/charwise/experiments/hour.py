"""The paper's two headline comparisons, each trained for one hour on a CPU: `warpeace-hour` and
`linux-hour` (the RNN against a 20-gram on the paper's split; dynamic evaluation and the
continuous cache beside, and the 20-gram with a cache of its own beside those)."""

from __future__ import annotations

from .registry import Budget, Experiment, shared_text

# The network that learned most in an hour here: a 2x768 GRU. Over 40 steps on War and Peace,
# 2 threads, it read 14,500 chars/s where a 2x512 read 24,500 and a 3x512 17,500; in the
# measured hour it read 14.7 epochs of War and Peace's 2.56 M training characters.
NET = dict(kind="gru", layers=2, hidden=768, dropout=0.25, batch_size=96, seq_len=32)


def _budgets(eval_every: int, about: str, long_steps: int, long_about: str) -> dict[str, Budget]:
    """One hour of training on a CPU (the claim is about time), and a step budget for a GPU."""
    every = dict(eval_every=eval_every, sample_every=eval_every)
    return {
        "cpu": Budget(**NET, **every, max_time=3600, about=about),
        "long": Budget(**NET, **every, max_steps=long_steps, about=long_about),
    }


# The paper's headline comparison on a CPU: its best LSTM scored 1.077 nats/char on War and
# Peace's test split (hours on a GPU), its 20-gram 1.195. The same split as the paper's
# (char-rnn's loader: 100 rows, each 80/10/10).
WARPEACE_HOUR = Experiment(
    name="warpeace-hour",
    title="War and Peace in an hour: the paper's test figure on a CPU",
    text=shared_text(
        "warpeace.txt",
        "Tolstoy's War and Peace, Maude translation, the warpeace_input.txt of char-rnn (3.2 MB)",
        split=(0.8, 0.1, 0.1),
        split_rows=100,
    ),
    **_budgets(
        1000,
        "1 h of training on a CPU (the recipe's point), plus ~10 min of scoring",
        40000,
        "~5 min on an H200 (estimated: not run)",
    ),
    claim="The paper (Karpathy, Johnson & Fei-Fei 2015) reports 1.077 nats/char on War and "
    "Peace's test split for its best LSTM, against 1.195 for a 20-gram: a recurrent network "
    "beats the count-based model by 0.12 nats/char.",
    post_figure="the paper's test cross-entropies on War and Peace: its best LSTM (1.077) and "
    "its 20-gram (1.195)",
    temperatures=(0.5, 1.0),
    dynamic=True,
    cache=True,
    ngram_order=20,
)

# The paper's other headline: on its Linux kernel text the best LSTM scored 0.84 nats/char
# against the 20-gram's 0.889. Ours is another kernel sample (16 MB of Linux 6.1, theirs 6.2 MB),
# so the figures compare the ordering, not the numbers. The same network and hour as
# warpeace-hour; validation every 2,000 steps (1.6 M characters each time).
LINUX_HOUR = Experiment(
    name="linux-hour",
    title="Linux kernel in an hour: the RNN against the 20-gram on a CPU",
    text=shared_text(
        "linux_kernel_sample.txt",
        "kernel/ and mm/ C of Linux 6.1.192 (16 MB)",
        split=(0.8, 0.1, 0.1),
        split_rows=100,
    ),
    **_budgets(
        2000,
        "1 h of training on a CPU, plus ~40 min of validating and scoring",
        60000,
        "~7 min on an H200 (estimated: not run)",
    ),
    claim="The paper reports 0.84 nats/char on its Linux kernel test split for its best LSTM, "
    "against 0.889 for a 20-gram.",
    post_figure="the paper's test cross-entropies on the Linux kernel: its best LSTM (0.84) and "
    "its 20-gram (0.889), on another kernel text than ours",
    temperatures=(0.5, 1.0),
    dynamic=True,
    cache=True,
    ngram_order=20,
)
