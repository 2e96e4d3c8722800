"""The count-based baseline: character n-grams with Kneser-Ney or Witten-Bell smoothing.

    charwise ngram book.txt --order 10 --out runs/book-10gram
    charwise sample runs/book-10gram          # sample / eval / info work as for an RNN run

Goldberg's reply to the post ("The unreasonable effectiveness of character-level language
models") used an unsmoothed n-gram, which fails on any context it never saw; here every context
backs off to shorter ones down to a uniform distribution, so every probability is above zero.
"""

from .model import NGramTables
from .run import NGramConfig, NGramModel, NGramResult, load_ngram, save_ngram, train_ngram

__all__ = [
    "NGramConfig",
    "NGramModel",
    "NGramResult",
    "NGramTables",
    "load_ngram",
    "save_ngram",
    "train_ngram",
]
