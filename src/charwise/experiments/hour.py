"""The paper's two headline comparisons, each trained for one hour on a CPU: `warpeace-hour` and
`linux-hour` (the RNN against a 20-gram on the paper's split, dynamic evaluation beside)."""

from __future__ import annotations

from .registry import Budget, Experiment, Text


def _shared(file: str, origin: str, **kw) -> Text:
    return Text(file=file, origin=f"{origin}; see PROVENANCE.md in the data folder", **kw)


# The paper's headline comparison on a CPU: its best LSTM scored 1.077 nats/char on War and
# Peace's test split (hours on a GPU), its 20-gram 1.195. The same split as the paper's
# (char-rnn's loader: 100 rows, each 80/10/10), and the network that learned most in an hour
# here: a 2x768 GRU (14,500 chars/s on 2 cores, ~20 epochs of the 2.56 M training characters;
# 2x512 reads 34 epochs and 3x512 25 in the hour).
WARPEACE_HOUR = Experiment(
    name="warpeace-hour",
    title="War and Peace in an hour: the paper's test figure on a CPU",
    text=_shared(
        "warpeace.txt",
        "Tolstoy's War and Peace, Maude translation, the warpeace_input.txt of char-rnn (3.2 MB)",
        split=(0.8, 0.1, 0.1),
        split_rows=100,
    ),
    cpu=Budget(
        kind="gru",
        layers=2,
        hidden=768,
        dropout=0.25,
        batch_size=96,
        seq_len=32,
        max_time=3600,
        eval_every=1000,
        sample_every=1000,
        about="1 h of training on a CPU (the recipe's point), plus ~5 min of scoring",
    ),
    long=Budget(
        kind="gru",
        layers=2,
        hidden=768,
        dropout=0.25,
        batch_size=96,
        seq_len=32,
        max_steps=40000,
        eval_every=1000,
        sample_every=1000,
        about="~30 min on a GPU (an estimate: not run here)",
    ),
    claim="The paper (Karpathy, Johnson & Fei-Fei 2015) reports 1.077 nats/char on War and "
    "Peace's test split for its best LSTM, against 1.195 for a 20-gram: a recurrent network "
    "beats the count-based model by 0.12 nats/char.",
    post_figure="the paper's test cross-entropies on War and Peace: its best LSTM (1.077) and "
    "its 20-gram (1.195)",
    temperatures=(0.5, 1.0),
    dynamic=True,
    ngram_order=20,
)

# The paper's other headline: on its Linux kernel text the best LSTM scored 0.84 nats/char
# against the 20-gram's 0.889. Ours is another kernel sample (16 MB of Linux 6.1, theirs 6.2 MB),
# so the figures compare the ordering, not the numbers. The same network and hour as
# warpeace-hour; validation every 2,000 steps (1.6 M characters each time).
LINUX_HOUR = Experiment(
    name="linux-hour",
    title="Linux kernel in an hour: the RNN against the 20-gram on a CPU",
    text=_shared(
        "linux_kernel_sample.txt",
        "kernel/ and mm/ C of Linux 6.1.192 (16 MB)",
        split=(0.8, 0.1, 0.1),
        split_rows=100,
    ),
    cpu=Budget(
        kind="gru",
        layers=2,
        hidden=768,
        dropout=0.25,
        batch_size=96,
        seq_len=32,
        max_time=3600,
        eval_every=2000,
        sample_every=2000,
        about="1 h of training on a CPU, plus ~15 min of validating and scoring",
    ),
    long=Budget(
        kind="gru",
        layers=2,
        hidden=768,
        dropout=0.25,
        batch_size=96,
        seq_len=32,
        max_steps=60000,
        eval_every=2000,
        sample_every=2000,
        about="~45 min on a GPU (an estimate: not run here)",
    ),
    claim="The paper reports 0.84 nats/char on its Linux kernel test split for its best LSTM, "
    "against 0.889 for a 20-gram.",
    post_figure="the paper's test cross-entropies on the Linux kernel: its best LSTM (0.84) and "
    "its 20-gram (0.889), on another kernel text than ours",
    temperatures=(0.5, 1.0),
    dynamic=True,
    ngram_order=20,
)
