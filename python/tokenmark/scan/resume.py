"""What a resumed scan reads back from its own folder, checked before it is trusted: the settings
(``scan.json``) and each finished shard's record (``scores-<shard>.done.json``). A file that is
not what the scan wrote (edited, truncated, replaced) is a usage error that names it: delete it
to rescore that shard (or use a new folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .output import atomic_json
from .watermarks import ScanConfigError


def open_out(out: Path, settings: dict[str, Any]) -> Path:
    """The scan's folder, made if needed, with its settings (``scan.json``): written for a new
    scan, compared for a resumed one (other settings are refused: a new folder is needed)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a file of that name, no permission, a read-only or missing parent
        raise ScanConfigError(f"out: cannot make the folder ({type(e).__name__})") from None
    manifest = out / "scan.json"
    if not manifest.exists():
        atomic_json(manifest, settings)
    else:
        stored = read_json(manifest)
        if stored != settings:
            why = "other settings"
            if _without_fingerprints(stored) == _without_fingerprints(settings):
                why = "other keys, or key fingerprints of tokenmark 0.1 (SHA-256; now scrypt)"
            raise ScanConfigError(f"out: {str(out)!r} holds a scan with {why}; use a new folder")
    return out


def _without_fingerprints(settings: Any) -> Any:
    """The settings with each watermark's key fingerprint left out."""
    if not isinstance(settings, dict) or not isinstance(settings.get("watermarks"), list):
        return settings
    marks = [
        {k: v for k, v in w.items() if k != "key_fingerprint"} if isinstance(w, dict) else w
        for w in settings["watermarks"]
    ]
    return {**settings, "watermarks": marks}


def read_json(path: Path) -> Any:
    """``path``'s JSON, or a ScanConfigError that names the file (never quotes it)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ScanConfigError(
            f"{path}: cannot read it ({e.strerror or type(e).__name__})"
        ) from None
    except (ValueError, RecursionError):  # bad JSON or UTF-8, or nested too deeply
        raise ScanConfigError(f"{path}: not the JSON this scan wrote") from None


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def read_done(path: Path) -> dict[str, Any]:
    """A finished shard's record, with the fields and types the scan writes."""
    done = read_json(path)
    ok = (
        isinstance(done, dict)
        and all(_int(done.get(k)) for k in ("n_docs", "n_tokens", "m"))
        and _number(done.get("q"))
        and 0 < done["q"] <= 1
        and isinstance(done.get("candidates"), list)
        and all(isinstance(c, dict) and _number(c.get("log10_p")) for c in done["candidates"])
        and isinstance(done.get("malformed"), list)
        and all(
            isinstance(r, dict)
            and set(r) == {"source", "row", "reason"}
            and isinstance(r["source"], str)
            and _int(r["row"])
            and isinstance(r["reason"], str)
            for r in done["malformed"]
        )
    )
    if not ok:
        raise ScanConfigError(
            f"{path}: not the record this scan wrote; delete it to rescore that shard"
        )
    return done
