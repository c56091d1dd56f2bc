"""How training progress is written for people."""


def format_duration(seconds: float) -> str:
    """``m:ss``, e.g. 95.4 -> ``1:35``."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}:{seconds:02d}"
