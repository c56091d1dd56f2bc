"""Words the commands print, shared by every layer of ``daisynet.tools``."""


def plural(amount: int, noun: str) -> str:
    """'1 packet', '2 packets', '0 packets'."""
    return f"{amount:,} {noun}{'' if amount == 1 else 's'}"
