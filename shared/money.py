"""Money is Decimal yuan with two places: NUMERIC(18,2) in the database, a string in JSON."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer

CENT = Decimal("0.01")
MAX_YUAN = Decimal("9999999999999999.99")  # NUMERIC(18,2)


def to_yuan(value: Decimal | int | str) -> Decimal:
    """Round to the cent the way Chinese finance bureaus round (half up)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# A request/response field: refuses floats' binary noise by accepting at most two
# decimal places, and is written back as a string so no client parses it as a float.
Yuan = Annotated[
    Decimal,
    Field(ge=0, le=MAX_YUAN, max_digits=18, decimal_places=2),
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str, when_used="json"),
]
