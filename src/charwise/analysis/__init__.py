"""Measurements over samples, texts and trained models: the post's and the paper's analyses
(structure of samples, gate saturation, long-range errors, error breakdown, training dynamics).

The paper's analyses (Karpathy, Johnson & Fei-Fei 2015, "Visualizing and Understanding
Recurrent Networks"), each a function returning numbers (arrays and a JSON-ready to_dict()) and,
in analysis.figures (matplotlib, optional), a function drawing it as a PNG:

    gate_saturation(record_gates(model, ids))           -> GateSaturation  saturation_figure
    loss_by_distance(text, {"LSTM": l1, "20-gram": l2})  -> LongRange       long_range_figure
    error_breakdowns({"small": p1, "large": p2}, text, train_text)
                                                         -> {name: Breakdown} breakdown_figure
    training_dynamics(recorder.checkpoints, ids, fit_ngrams(train_ids, V))
                                                         -> Dynamics        dynamics_figure

The structure of samples (the post's point: an RNN's samples keep brackets, environments and
functions that an n-gram of the same loss breaks), for any run's samples against its corpus:

    structure_metrics(samples, train_text, kinds)       -> {metric: value}  (analysis.structure)

Per-character inputs follow analysis.predictions' convention: x[t] is about character t given
the ones before it, x[0] is NaN.
"""

from .breakdown import (
    GROUPS,
    Breakdown,
    BreakdownOptions,
    Oracles,
    build_oracles,
    error_breakdown,
    error_breakdowns,
    ngram_oracle_probs,
)
from .cfunctions import CParse, c_functions, parse_c_functions
from .dynamics import (
    PAPER_ORDERS,
    CheckpointRecorder,
    Dynamics,
    fit_ngrams,
    js_by_order,
    js_divergence,
    training_dynamics,
)
from .longrange import DEFAULT_EDGES, LongRange, loss_by_distance, matching_pairs
from .predictions import (
    losses,
    ngram_char_probs,
    ngram_distributions,
    ngram_tables,
    recording_char_probs,
    rnn_blocks,
    rnn_char_probs,
)
from .saturation import GATES, GateSaturation, SaturationOptions, gate_saturation, record_gates
from .structure import (
    KINDS,
    CorpusIndex,
    bracket_metrics,
    c_metrics,
    corpus_index,
    latex_metrics,
    line_metrics,
    novel_rate,
    quote_metrics,
    structure_metrics,
)

__all__ = [
    "DEFAULT_EDGES",
    "GATES",
    "KINDS",
    "GROUPS",
    "PAPER_ORDERS",
    "Breakdown",
    "CParse",
    "CorpusIndex",
    "BreakdownOptions",
    "CheckpointRecorder",
    "Dynamics",
    "GateSaturation",
    "LongRange",
    "Oracles",
    "SaturationOptions",
    "bracket_metrics",
    "build_oracles",
    "c_functions",
    "c_metrics",
    "corpus_index",
    "error_breakdown",
    "error_breakdowns",
    "fit_ngrams",
    "gate_saturation",
    "js_by_order",
    "js_divergence",
    "latex_metrics",
    "line_metrics",
    "loss_by_distance",
    "losses",
    "matching_pairs",
    "ngram_char_probs",
    "ngram_distributions",
    "ngram_oracle_probs",
    "ngram_tables",
    "novel_rate",
    "parse_c_functions",
    "quote_metrics",
    "recording_char_probs",
    "record_gates",
    "rnn_blocks",
    "rnn_char_probs",
    "structure_metrics",
    "training_dynamics",
]
