"""The one text validator every service's names and free text go through.

Text is NFC-normalised, stripped, bounded in length, and refused when it carries
characters a reader cannot see or that reorder what they see: Unicode categories
Cc (controls, including NEL), Cf (format: zero-width space, bidi overrides such as
U+202E, BOM, soft hyphen), Zl and Zp (U+2028/U+2029), and Cs (lone surrogates, which
no UTF-8 database can store). The bidi controls are the "Trojan Source" attack
(CVE-2021-42574): "\\u202e脑大市城" displays as 城市大脑; the invisible ones are what
UTS #39 (Unicode Security Mechanisms) keeps out of identifiers, since a name of only
U+200B looks blank in every list. Multi-line fields also take line feeds (CRLF is
stored as LF); nothing else takes any control character.

Use the ``Annotated`` types (``Name``, ``Text``, ``ShortText``, ``MultilineText``) or
build one: ``Purpose = Annotated[str, TextRules(2000, multiline=True)]``. Each is
strict (a JSON string, never a number coerced to one) and documents its length
bounds in the OpenAPI schema.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_CATEGORY_NAMES = {
    "Cc": "control",
    "Cf": "invisible format",
    "Zl": "line separator",
    "Zp": "paragraph separator",
    "Cs": "lone surrogate",
}
# Every code point of those categories, as character classes so that a 1 MiB string
# is scanned in C. The table is Unicode 14 (Python 3.11's ``unicodedata``) plus the
# Egyptian format controls of Unicode 15; tests/shared check that it covers every
# such code point of the running Python's ``unicodedata``.
_C0 = r"\x00-\x1f"
_C0_BUT_LF = r"\x00-\x09\x0b-\x1f"
_OTHERS = (
    r"\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff"
    r"\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    r"\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_REFUSED = re.compile(f"[{_C0}{_OTHERS}]")
_REFUSED_MULTILINE = re.compile(f"[{_C0_BUT_LF}{_OTHERS}]")


def refused_character(value: str, *, multiline: bool = False) -> tuple[int, str] | None:
    """The first refused character as ``(position, character)``, or ``None``."""
    found = (_REFUSED_MULTILINE if multiline else _REFUSED).search(value)
    return None if found is None else (found.start(), found.group())


# Controls have no Unicode name; these are the ones people actually paste.
_CONTROL_NAMES = {
    "\x00": "NULL",
    "\t": "CHARACTER TABULATION",
    "\n": "LINE FEED",
    "\r": "CARRIAGE RETURN",
    "\x1b": "ESCAPE",
    "\x7f": "DELETE",
    "\x85": "NEXT LINE (NEL)",
}
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x85\u2028\u2029")


def describe(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE`` (a name even for controls, which have none)."""
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(char, "")
    return f"{code} {name}" if name else code


def clean(value: str, *, multiline: bool = False) -> str:
    """NFC, CRLF→LF where multi-line, refuse invisible characters, strip.

    Raises ``PydanticCustomError`` with type ``text_invisible_character``; its
    message names the character and its code point.
    """
    if multiline:
        value = value.replace("\r\n", "\n")
    if not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    found = refused_character(value, multiline=multiline)
    if found is not None:
        position, char = found
        category = unicodedata.category(char)
        raise PydanticCustomError(
            "text_invisible_character",
            "{character} ({kind} character, Unicode category {category}) at position "
            "{position} is not allowed in text{where}",
            {
                "character": describe(char),
                "code_point": f"U+{ord(char):04X}",
                "kind": _CATEGORY_NAMES.get(category, "invisible format"),
                "category": category,
                "position": position,
                "where": (
                    "; line breaks belong only in multi-line fields"
                    if char in _LINE_BREAKS and not multiline
                    else ""
                ),
            },
        )
    return value.strip()


@dataclass(frozen=True, slots=True)
class TextRules:
    """Pydantic metadata: a strict ``str`` that ``clean`` accepts, within the bounds."""

    max_length: int
    min_length: int = 1
    multiline: bool = False

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            self.validate, core_schema.str_schema(strict=True)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(minLength=self.min_length, maxLength=self.max_length)
        return json_schema

    def validate(self, value: str) -> str:
        value = clean(value, multiline=self.multiline)
        # Bounds count what is stored: after NFC and stripping.
        if len(value) < self.min_length:
            raise PydanticCustomError(
                "string_too_short",
                "String should have at least {min_length} character(s) after trimming",
                {"min_length": self.min_length},
            )
        if len(value) > self.max_length:
            raise PydanticCustomError(
                "string_too_long",
                "String should have at most {max_length} characters",
                {"max_length": self.max_length},
            )
        return value


# The shapes the services share; a field needing other bounds builds its own.
Name = Annotated[str, TextRules(max_length=200)]
Text = Annotated[str, TextRules(max_length=500)]
ShortText = Annotated[str, TextRules(max_length=50)]
MultilineText = Annotated[str, TextRules(max_length=5000, multiline=True)]
