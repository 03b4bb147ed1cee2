"""Measurements of dilo's own stages (not unit tests): the scale rehearsal."""
