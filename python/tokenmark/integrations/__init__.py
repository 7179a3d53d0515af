"""Integrations with generation frameworks: transformers, and the vLLM / SGLang servers (their
modules import the engine; the key ring in ``keyring`` needs none)."""
