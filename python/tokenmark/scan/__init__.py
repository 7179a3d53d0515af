"""Scan corpora for watermarks: every configured watermark over JSON lines, Parquet or text files,
with exact corpus-level error control (Benjamini-Hochberg, Benjamini-Yekutieli, Bonferroni).

Command line (``python -m tokenmark.scan``, or ``tokenmark scan`` where wired)::

    export TOKENMARK_KEY_CHAT='my secret'   # or --key-file keys.json
    python -m tokenmark.scan corpus/ --config watermarks.json --tokenizer tok/ --out scan-out/

Exit codes: 0 no watermark found (no Benjamini-Hochberg rejection at ``--q``) and no malformed
row; 1 watermarks found; 2 usage or configuration error (nothing scanned or the scan stopped);
3 malformed rows, no watermark found; 4 malformed rows and watermarks found.

Python::

    import tokenmark.scan as ts
    wms = ts.load_watermarks("watermarks.json", key_file="keys.json")
    opt = ts.ReadOptions(text_column="text")
    rep = ts.scan(ts.expand_inputs(["corpus/"]), wms, "scan-out", read_options=opt,
                  tokenizer=ts.load_tokenizer("tok/"), q=0.01)
    rep.summary["bh"]["rejections"], rep.hits[:3]
"""

from .engine import (
    EXIT_CLEAN,
    EXIT_HITS,
    EXIT_HITS_AND_MALFORMED,
    EXIT_MALFORMED,
    EXIT_REPORT_FAILED,
    EXIT_USAGE,
    ScanReport,
    scan,
)
from .fdr import FDRAccumulator, Rejections
from .inputs import ScanInputError, Shard, expand_inputs
from .logp import log10_binom_sf, log10_gamma_sf, log10_norm_sf
from .readers import Batch, Malformed, ReadOptions, read_shard
from .report import write_report
from .scoring import score_batch
from .tokenizer import encode, load_tokenizer
from .watermarks import ScanConfigError, Watermark, env_name, load_keys, load_watermarks

__all__ = [
    "EXIT_CLEAN",
    "EXIT_HITS",
    "EXIT_HITS_AND_MALFORMED",
    "EXIT_MALFORMED",
    "EXIT_REPORT_FAILED",
    "EXIT_USAGE",
    "Batch",
    "FDRAccumulator",
    "Malformed",
    "ReadOptions",
    "Rejections",
    "ScanConfigError",
    "ScanInputError",
    "ScanReport",
    "Shard",
    "Watermark",
    "encode",
    "env_name",
    "expand_inputs",
    "load_keys",
    "load_tokenizer",
    "load_watermarks",
    "log10_binom_sf",
    "log10_gamma_sf",
    "log10_norm_sf",
    "read_shard",
    "scan",
    "score_batch",
    "write_report",
]
