"""How training progress is written for people."""


def plural(count: int, noun: str) -> str:
    """``1 frame``, ``2 frames``: a count with its noun, plural unless it is one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def format_duration(seconds: float) -> str:
    """``m:ss``, e.g. 95.4 -> ``1:35``."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}:{seconds:02d}"
