"""Tests whose input is a model, not a text: was this model distilled or fine-tuned from ours?

GINSEW probing and its text-only variant, the radioactivity test of our output watermarks,
keyed fingerprints and weight provenance. These sit above the schemes (they import them).
"""
