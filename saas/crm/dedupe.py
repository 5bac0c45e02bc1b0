"""Keys that make duplicate customers, contacts and leads compare equal.

Pure functions on text: no database, no Flask. Two records are possible duplicates when one of
their keys is equal, so each key forgets what people write differently for the same thing:

- :func:`company_key`: full or half width, case, spaces, punctuation and the legal form
  (``北京字节跳动科技有限公司``, ``北京字节跳动科技 有限责任公司`` and ``北京字节跳动科技``
  are one key; ``Acme Co., Ltd.`` and ``ACME`` are one key). A branch (``…分公司``) keeps
  its whole name: it is usually a customer of its own, with its own contracts and people.
- :func:`person_key`: width, case and spaces (``张 三`` is ``张三``; ``John  Smith`` is
  ``john smith``).
- :func:`phone_key`: the number in E.164 (``+86 138-0013-8000`` and ``13800138000`` are
  ``+8613800138000``).
- :func:`email_key`: the address as ``email_validator`` normalises it, lower-cased.

Every function answers ``""`` for a value that gives no usable key; such keys are never stored
or compared. Each function is idempotent: a key is its own key.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import phonenumbers
import regex
from email_validator import EmailNotValidError, validate_email

#: Legal forms at the end of a Chinese company name, longest first so that ``有限公司`` goes
#: as a whole rather than leaving ``有限``. Stripped repeatedly:
#: ``集团股份有限公司`` → ``集团`` → ``""``.
#: ``总公司`` (head office) is the company itself; ``分公司`` (a branch) is not stripped at all.
CHINESE_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "股份公司",
    "总公司",
    "集团",
    "公司",
)
#: A name ending in this is a branch: nothing more is stripped from it.
BRANCH = "分公司"
#: Legal forms at the end of a company name in other languages, as whole words after
#: punctuation became spaces (so ``Co., Ltd.`` is the two words ``co`` and ``ltd``).
ENGLISH_SUFFIXES = frozenset(
    {
        "co",
        "company",
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "llc",
        "llp",
        "corp",
        "corporation",
        "gmbh",
        "plc",
        "pte",
    }
)
#: Fewer digits than this are no phone number worth comparing (extensions, short codes).
MIN_PHONE_DIGITS = 7

# Punctuation (ASCII and CJK: ，。、（）《》…), symbols, separators, controls and invisible
# format characters all separate words.
_SEPARATORS = regex.compile(r"[\p{P}\p{S}\p{Z}\p{C}\s]+")
_SPACES = regex.compile(r"\s+")
# Controls, invisible format characters and unassigned code points (after spaces became " ").
_INVISIBLE = regex.compile(r"\p{C}+")
# A space next to a Chinese character means nothing: 张 三 is 张三.
_SPACE_BY_HAN = regex.compile(r"(?<=\p{Han}) | (?=\p{Han})")
_NOT_DIGIT = regex.compile(r"\D")


def _fold(text: str) -> str:
    """Full width → half width and compatibility forms (NFKC), then case folding (NFKC again:
    folding may leave a string that is not normalised, such as ``İ``)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _fixpoint(step: Callable[[str], str], text: str) -> str:
    """Apply ``step`` until the result no longer changes, so that a key is its own key."""
    key = step(text)
    for _ in range(5):  # each step only shortens or keeps the text; two rounds always suffice
        again = step(key)
        if again == key:
            break
        key = again
    return key


def _drop_tail(words: list[str], count: int) -> list[str]:
    """``words`` without their last ``count`` characters (a Chinese suffix may span words)."""
    words = list(words)
    while count > 0 and words:
        last = words.pop()
        if len(last) > count:
            words.append(last[:-count])
            break
        count -= len(last)
    return words


def _company_once(name: str) -> str:
    words = _SEPARATORS.sub(" ", _fold(name)).split()
    while words:
        joined = "".join(words)
        if joined.endswith(BRANCH):
            break
        suffix = next((s for s in CHINESE_SUFFIXES if joined.endswith(s)), None)
        if suffix is not None:
            words = _drop_tail(words, len(suffix))
        elif words[-1] in ENGLISH_SUFFIXES:
            words.pop()
        else:
            break
    return "".join(words)


def company_key(name: str | None) -> str:
    """A company name without width, case, spaces, punctuation or trailing legal forms.

    ``""`` when nothing is left (a name that is only a legal form, such as ``有限公司``)."""
    if not name:
        return ""
    return _fixpoint(_company_once, str(name))


def person_key(name: str | None) -> str:
    """A person's name with width and case folded and spaces collapsed (none next to Chinese
    characters, none at the ends)."""
    if not name:
        return ""
    text = _INVISIBLE.sub("", _SPACES.sub(" ", _fold(str(name)))).strip()
    text = _SPACES.sub(" ", text)
    return _SPACE_BY_HAN.sub("", text)


def _phone_once(text: str, region: str | None) -> str:
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        if len(phonenumbers.national_significant_number(number)) < MIN_PHONE_DIGITS:
            return ""
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    digits = _NOT_DIGIT.sub("", raw)
    if len(digits) < MIN_PHONE_DIGITS:
        return ""
    # Keep the plus of an international number libphonenumber cannot read, so that the key
    # does not turn into a number of ``region`` when it is read again.
    return ("+" if raw.startswith("+") else "") + digits


def phone_key(text: str | int | None, region: str | None = "CN") -> str:
    """The number in E.164 (read in ``region`` when it has no country code); a number
    libphonenumber cannot read is its digits when there are at least :data:`MIN_PHONE_DIGITS`,
    otherwise ``""``."""
    if text is None or isinstance(text, bool):
        return ""
    return _fixpoint(lambda value: _phone_once(value, region), str(text))


def email_key(text: str | None) -> str:
    """The address normalised by ``email_validator`` (no DNS lookup) and lower-cased; ``""``
    when it is not a valid address."""
    if not isinstance(text, str):
        return ""
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw:
        return ""
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return ""
