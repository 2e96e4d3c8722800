"""Look inside a trained model: record predictions and activations over a text, find the
interpretable cells, select/match cells by span, and write a self-contained HTML report."""

from .features import Interpretability, RankOptions, rank_cells
from .properties import text_properties
from .record import QUANTITIES, Recording, RecordOptions, memory_bound, record, record_text
from .select import Match, SelectedCell, match_spans, select_cells

__all__ = [
    "QUANTITIES",
    "Interpretability",
    "Match",
    "RankOptions",
    "RecordOptions",
    "Recording",
    "SelectedCell",
    "match_spans",
    "memory_bound",
    "rank_cells",
    "record",
    "record_text",
    "select_cells",
    "text_properties",
]
