"""Tiny randomly initialised transformers models and a recording processor, shared by the
integration tests (import transformers only after ``pytest.importorskip``)."""

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, LogitsProcessor

VOCAB = 1000


def tiny_llama(vocab: int = VOCAB) -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(cfg).eval()


def tiny_gpt2(vocab: int = VOCAB) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=vocab,
        n_positions=512,
        n_embd=64,
        n_layer=2,
        n_head=4,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return GPT2LMHeadModel(cfg).eval()


class Recorder(LogitsProcessor):
    """Records, on the host, what the wrapped processor receives (input ids, scores) and what it
    returns: ``calls`` holds ``(input_ids, before, after)`` per step."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __call__(self, input_ids, scores):
        before = scores.detach().cpu().clone()
        after = self.inner(input_ids, scores)
        self.calls.append((input_ids.detach().cpu().clone(), before, after.detach().cpu().clone()))
        return after
