"""The shared text validator: NFC, no invisible or bidi characters, strict, bounded."""

from __future__ import annotations

import unicodedata
from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from shared.text import (
    REFUSED_CATEGORIES,
    MultilineText,
    Name,
    TextRules,
    clean,
    refused_character,
)


class Form(BaseModel):
    name: Name
    notes: MultilineText | None = None
    code: Annotated[str, TextRules(10, min_length=2)] | None = None


def refusal(**fields: object) -> dict[str, object]:
    with pytest.raises(ValidationError) as caught:
        Form.model_validate({"name": "某局", **fields})
    [error] = caught.value.errors()
    return dict(error)


@pytest.mark.parametrize(
    ("value", "code_point"),
    [
        ("\u200b", "U+200B"),  # looks blank
        ("\u202e脑大市城", "U+202E"),  # displays as 城市大脑 (Trojan Source)
        ("城市\u2066大脑\u2069", "U+2066"),  # isolates
        ("某\u200d局", "U+200D"),
        ("\ufeff某局", "U+FEFF"),
        ("某\u00ad局", "U+00AD"),  # soft hyphen
        ("某\x85局", "U+0085"),  # NEL
        ("某\u2028局", "U+2028"),
        ("某\u2029局", "U+2029"),
        ("某\x00局", "U+0000"),
        ("某\t局", "U+0009"),
        ("某\n局", "U+000A"),
        ("某\ud800局", "U+D800"),  # a lone surrogate: no UTF-8 can store it
        ("\U000e0041", "U+E0041"),  # tag characters hide text too
    ],
)
def test_invisible_and_direction_characters_are_refused_by_code_point(
    value: str, code_point: str
) -> None:
    error = refusal(name=value)
    assert error["type"] == "text_invisible_character"
    assert code_point in str(error["msg"])
    assert error["loc"] == ("name",)


def test_the_message_names_the_character() -> None:
    message = str(refusal(name="\u202e脑大市城")["msg"])
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in message
    assert "Cf" in message and "position 0" in message
    assert "NEXT LINE" in str(refusal(name="a\x85")["msg"])


def test_names_are_normalised_to_nfc_and_trimmed() -> None:
    decomposed = "Cafe\u0301  "
    form = Form.model_validate({"name": decomposed})
    assert form.name == "Café" and unicodedata.is_normalized("NFC", form.name)
    # Compatibility ideographs are canonical-equivalent to the unified ones (NFC maps them).
    assert Form.model_validate({"name": "\uf900"}).name == "\u8c48"


def test_ordinary_chinese_text_with_ideographic_spaces_is_kept() -> None:
    assert Form.model_validate({"name": "临汾市\u3000水利局"}).name == "临汾市\u3000水利局"


@pytest.mark.parametrize("value", [3, 3.0, True, None, ["某局"], b"x"])
def test_only_a_string_is_text(value: object) -> None:
    assert refusal(name=value)["type"] == "string_type"


def test_bounds_count_the_stored_text() -> None:
    assert refusal(name="   ")["type"] == "string_too_short"
    assert refusal(name="x" * 201)["type"] == "string_too_long"
    assert Form.model_validate({"name": " " + "x" * 200 + " "}).name == "x" * 200
    assert refusal(code="x")["type"] == "string_too_short"


def test_multiline_text_takes_line_feeds_and_stores_crlf_as_lf() -> None:
    form = Form.model_validate({"name": "某局", "notes": "第一行\r\n第二行\n第三行"})
    assert form.notes == "第一行\n第二行\n第三行"
    for bad in ("a\rb", "a\u2028b", "a\x85b", "a\u200bb", "a\tb"):
        assert refusal(notes=bad)["type"] == "text_invisible_character", bad


def test_the_json_schema_states_the_bounds() -> None:
    properties = Form.model_json_schema()["properties"]
    assert properties["name"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "title": "Name",
    }


def test_the_table_covers_every_refused_code_point_of_this_pythons_unicode() -> None:
    missing = [
        f"U+{cp:04X}"
        for cp in range(0x110000)
        if unicodedata.category(chr(cp)) in REFUSED_CATEGORIES
        and refused_character(chr(cp)) is None
    ]
    assert missing == []
    assert refused_character("\n", multiline=True) is None
    assert clean("a\nb", multiline=True) == "a\nb"
