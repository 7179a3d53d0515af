"""KGW as text-generation-inference (TGI) makes it (``server/text_generation_server/utils/
watermark.py``): before each token, ``manual_seed(15485863 * previous token)`` on the generation
device's generator, ``randperm(logits width)[:int(width * gamma)]`` are green and get ``delta``.

That is transformers' ``lefthash`` with ``context_width`` 1, ``hashing_key`` 15485863 and the
vocabulary taken as the logits' width (a padded vocabulary included), so this dialect is a
:class:`~tokenmark.dialects.TransformersKGW`. TGI has no detector and no BOS rule: pass the
prompt with ``prefix_lengths`` (its last token seeds the first generated token's list).
TGI serves on GPUs, whose generator draws other lists than the CPU's: ``device="cuda"`` (the
default) needs a GPU here and is refused without one; ``device="cpu"`` for a CPU server.
"""

from __future__ import annotations

from .transformers_kgw import TransformersKGW

TGI_HASH_KEY = 15485863  # TGI's fixed hash key (not configurable in the server)


def tgi_kgw(
    vocab_size: int,
    *,
    gamma: float = 0.5,
    delta: float = 2.0,
    device: str = "cuda",
    hash_key: int = TGI_HASH_KEY,
) -> TransformersKGW:
    """TGI's watermark (``WATERMARK_GAMMA``, ``WATERMARK_DELTA``; defaults 0.5 and 2.0).

    Parameters
    ----------
    vocab_size : the width of the logits TGI biased (the model's, padding included).
    gamma, delta : TGI's ``WATERMARK_GAMMA`` and ``WATERMARK_DELTA``.
    device : where TGI generated: ``"cuda"`` (default) or ``"cpu"``.
    hash_key : TGI's 15485863; TGI seeds with ``hash_key * token`` unreduced, so keys past 2^33
        could not have run there and are refused.

    >>> import tokenmark as tm
    >>> wm = tm.dialects.tgi_kgw(32000, device="cpu")
    >>> wm.green_size, wm.context_width, wm.seeding_scheme
    (16000, 1, 'lefthash')
    """
    if isinstance(hash_key, bool) or not isinstance(hash_key, int):
        raise TypeError("hash_key: must be an int")
    if not 0 <= hash_key < 2**33:
        raise ValueError("hash_key: must be in [0, 2^33) (TGI's seed must fit in 64 bits)")
    return TransformersKGW(
        hashing_key=hash_key, vocab_size=vocab_size, greenlist_ratio=gamma, bias=delta,
        seeding_scheme="lefthash", context_width=1, device=device,
    )  # fmt: skip
