"""Figures that show what the pretraining pipeline does to its inputs (previews for papers and debugging)."""
