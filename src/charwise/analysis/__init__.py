"""Measurements over samples, texts and trained models: the post's and the paper's analyses
(structure of samples, gate saturation, long-range errors, error breakdown, training dynamics)."""
