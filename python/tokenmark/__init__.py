"""tokenmark: watermark LLM output inside any generation loop, and detect it at corpus scale.

>>> import tokenmark as tm
>>> wm = tm.KGW(key=b"my secret", gamma=0.25, delta=2.0, context_width=4)
>>> res = wm.detect([[5, 17, 3, 99, 42, 7, 7, 1000]])
>>> res.n_scored.tolist(), bool(res.p_value[0] <= 1.0)
([4], True)
"""

from . import dialects
from ._info import info
from ._inputs import Ragged
from ._key import Key
from .calibration import Calibration  # per-key calibration of detection (issue 16)
from .ginsew import GINSEW
from .gumbel import Gumbel, GumbelResult
from .kgw import KGW, KGWResult
from .ops import (
    apply_ginsew_,
    apply_kgw_bias_,
    sample_gumbel,
    sample_synthid,
    score_gumbel,
    score_gumbel_keys,
    score_kgw,
    score_kgw_keys,
    score_synthid,
    score_synthid_keys,
)
from .suspect import provenance  # model-level tests (issue 10): weight provenance
from .suspect.fingerprint import Fingerprint, FingerprintResult  # and keyed fingerprints
from .suspect.ginsew import GINSEWResult
from .suspect.radioactivity import RadioactivityResult  # also loads tm.suspect.radioactivity
from .synthid import SynthID, SynthIDResult

__version__ = "0.1.0"

__all__ = [
    "GINSEW",
    "GINSEWResult",
    "apply_ginsew_",
    "KGW",
    "KGWResult",
    "Calibration",
    "Fingerprint",
    "FingerprintResult",
    "Gumbel",
    "GumbelResult",
    "Key",
    "Ragged",
    "RadioactivityResult",
    "SynthID",
    "SynthIDResult",
    "apply_kgw_bias_",
    "info",
    "provenance",
    "sample_gumbel",
    "sample_synthid",
    "score_gumbel",
    "score_kgw",
    "score_synthid",
    "dialects",
    "score_gumbel_keys",
    "score_kgw_keys",
    "score_synthid_keys",
    "__version__",
]
