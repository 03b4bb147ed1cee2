"""Measurements of dilo's own stages (not unit tests), run by the ``tools/bench_*.py`` and scale tools: the data
loader, saliency methods, the training step and the scale rehearsal."""
