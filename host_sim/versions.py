"""Format versions: every file format daisynet writes (dataset, training record, model_defn.h)
carries one, and its reader refuses a newer one with the same words (model_defn.h also an older
one: its reader and the engine read exactly one version)."""

from __future__ import annotations

import json


def version_problem(version: object, supported: int, what: str,
                    field: str = "format_version") -> str | None:
    """Why a reader of version ``supported`` cannot read a ``what`` whose ``field`` (as the
    file names it) says ``version``, or None when it can."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return f"{field} must be a whole number of at least 1, got {json.dumps(version)[:60]}"
    if version > supported:
        return (f"{what} {field} {version} is newer than this daisynet reads ({supported}); "
                "update daisynet")
    return None
