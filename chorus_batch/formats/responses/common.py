"""What the order response writers share: escaping, empty values, numbers, and the checks every
response passes.

Owns: the characters XML 1.0 cannot carry (dropped, ``clean``), element and attribute escaping
(``xml_text``, ``xml_attr``), one leaf element per line (``leaf``, nothing for a blank value),
amounts with two decimals half-up and quantities as given (``fmt_amount``, ``fmt_number``), a
line's amount (``line_amount``), a party's identifiers with its VAT numbers apart
(``party_ids``), and the checks common to every writer (``check_response``).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ...domain import pricing
from ...domain.model import OrderLine, OutgoingResponse, Party

CODES = ("AP", "RE", "CA")  # what an OutgoingResponse may say (UNCL4343-T76 subset)
_CENT = Decimal("0.01")
# C0 controls other than TAB/LF/CR, lone surrogates and U+FFFE/U+FFFF are not XML 1.0 characters.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(value: str | None) -> str | None:
    """``value`` without the characters XML cannot carry; ``None`` when nothing visible is left."""
    if value is None:
        return None
    value = _NOT_XML.sub("", value)
    return value if value.strip() else None


# what each character becomes (xml.sax.saxutils.escape would do it, but imports urllib.request:
# every command's start about 10 ms longer)
_ESCAPED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_TEXT = str.maketrans(_ESCAPED)
_ATTR = str.maketrans({**_ESCAPED, '"': "&quot;", "\n": "&#10;", "\t": "&#9;"})


def xml_text(value: str) -> str:
    """Escape element content (a CR is written as ``&#13;`` so that it survives parsing)."""
    return _NOT_XML.sub("", value).translate(_TEXT)


def xml_attr(value: str) -> str:
    """Escape an attribute value written between double quotes (whitespace kept as char refs)."""
    return _NOT_XML.sub("", value).translate(_ATTR)


def leaf(indent: str, tag: str, value: str | None, **attrs: str | None) -> str:
    """``<tag attr="…">value</tag>`` on its own line, or ``""`` when ``value`` is blank.
    Blank attributes are left out."""
    value = clean(value)
    if value is None:
        return ""
    extra = "".join(f' {name}="{xml_attr(v)}"' for name, v in attrs.items() if v is not None and clean(v) is not None)
    return f"{indent}<{tag}{extra}>{xml_text(value)}</{tag}>\n"


def _finite(value: Decimal, what: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{what} must be a finite Decimal, got {value!r}")
    return value


def fmt_amount(value: Decimal, what: str = "amount") -> str:
    """An amount with exactly two decimals (half-up), never in scientific notation."""
    try:
        return format(_finite(value, what).quantize(_CENT, rounding=ROUND_HALF_UP), "f")
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is too large to write") from None


def fmt_number(value: Decimal, what: str = "number") -> str:
    """A quantity or unit price as given (``format(d, 'f')``: no exponent)."""
    return format(_finite(value, what), "f")


def line_amount(line: OrderLine) -> Decimal | None:
    """The line's net amount, or quantity × unit price ÷ base quantity rounded to the cent when
    it has none (``domain.pricing``)."""
    if line.net_amount is not None:
        return line.net_amount
    if line.quantity is not None and line.unit_price is not None:
        base = None if line.base_quantity is None else _finite(line.base_quantity, "base quantity")
        return pricing.line_amount(_finite(line.quantity, "quantity"), _finite(line.unit_price, "unit price"), base)
    return None


def check_response(resp: OutgoingResponse) -> str:
    """Checks common to both writers; returns the normalised code (AP, RE or CA)."""
    code = (resp.code or "").strip().upper()
    if code not in CODES:
        raise ValueError(f"order response code {resp.code!r} is not one of {', '.join(CODES)}")
    if clean(resp.response_id) is None:
        raise ValueError("the order response needs an id (response_id is blank)")
    if clean(resp.order_number) is None:
        raise ValueError("the order response needs the order number it answers (order_number is blank)")
    seen: set[str] = set()
    for rl in resp.lines:
        line_id = clean(rl.line.line_id)
        if line_id is None:
            raise ValueError("every response line needs a line id")
        if line_id in seen:
            raise ValueError(f"line id {line_id!r} appears twice in the response")
        seen.add(line_id)
    return code


def party_ids(party: Party) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The identifiers of ``party`` that have a value: all but VAT numbers as ``(scheme, value,
    source)``, in order, and its VAT numbers apart, each once."""
    others: list[tuple[str, str, str]] = []
    vats: list[str] = []
    for pid in party.ids:
        value, scheme = clean(pid.value), (pid.scheme or "").strip()
        if value is None:
            continue
        if scheme == "VAT":
            if value not in vats:
                vats.append(value)
        else:
            others.append((scheme, value, pid.source))
    return others, vats
