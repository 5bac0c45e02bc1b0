"""The Simplified Chinese catalogue is complete, keeps its placeholders and compiles.

Every string marked for translation in the code and templates must have a Chinese
translation: when this fails, run ``scripts/i18n.sh``, translate the listed strings in
saas/translations/zh_Hans_CN/LC_MESSAGES/messages.po and run the script again.

These tests read files only; they need neither the database nor Redis.
"""

from __future__ import annotations

import gettext
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "saas" / "translations"
# Flask-Babel looks the locale "zh_CN" up as str(Locale.parse("zh_CN")) == "zh_Hans_CN".
ZH_PO = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
LOCALES = ["zh_Hans_CN", "en"]

# The same keywords as scripts/i18n.sh (on top of babel's defaults: _, gettext, ngettext, ...).
KEYWORDS = ["_l", "lazy_gettext", "lazy_ngettext:1,2"]

# printf-style conversions as Python's % operator reads them, named or not ("%%" is a literal).
PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +\-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]"
)


@pytest.fixture(autouse=True)
def _clean_context() -> Iterator[None]:
    """Override the conftest fixture of the same name: these tests never touch the app or DB."""
    yield


def _read(path: Path) -> Catalog:
    with path.open("rb") as fileobj:
        return read_po(fileobj, abort_invalid=True)


def _placeholders(text: str) -> set[str]:
    return {m.group(0) for m in PLACEHOLDER.finditer(text) if m.group(0) != "%%"}


def _label(message: Message) -> str:
    return repr(message.id if isinstance(message.id, str) else message.id[0])


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> Catalog:
    """What ``pybabel extract`` finds in the code now, with the project's babel.cfg."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    command = [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg"]
    for keyword in KEYWORDS:
        command += ["-k", keyword]
    command += ["--ignore-dirs", ".* _* node_modules", "--no-location", "-o", str(pot), "."]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    catalog = _read(pot)
    assert len(catalog) > 0, "extraction found no strings: is babel.cfg still right?"
    return catalog


@pytest.fixture(scope="module")
def zh() -> Catalog:
    assert ZH_PO.exists(), "no Chinese catalogue: run scripts/i18n.sh"
    return _read(ZH_PO)


def _translated(message: Message | None) -> bool:
    if message is None or message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return bool(strings) and all(s and s.strip() for s in strings)


def test_every_extracted_string_has_a_chinese_translation(extracted, zh):
    missing = [
        _label(message)
        for message in extracted
        if message.id and not _translated(zh.get(message.id))
    ]
    assert not missing, (
        f"{len(missing)} string(s) have no (non-fuzzy) zh_CN translation; run scripts/i18n.sh "
        f"and translate them in {ZH_PO.relative_to(ROOT)}:\n  " + "\n  ".join(missing)
    )


def test_plural_entries_match_the_code(extracted, zh):
    """A string that became plural (or stopped being plural) needs its entry redone."""
    mismatched = [
        _label(message)
        for message in extracted
        if message.id
        and (found := zh.get(message.id)) is not None
        and isinstance(found.id, tuple) != isinstance(message.id, tuple)
    ]
    assert not mismatched, "singular/plural differs from the code: " + ", ".join(mismatched)


def test_no_fuzzy_entries(zh):
    fuzzy = [_label(m) for m in zh if m.id and m.fuzzy]
    assert not fuzzy, "fuzzy entries are not used at run time; review them: " + ", ".join(fuzzy)


def test_translations_keep_the_placeholders(zh):
    wrong = []
    for message in zh:
        if not message.id:
            continue
        ids = (message.id,) if isinstance(message.id, str) else message.id
        strings = (message.string,) if isinstance(message.string, str) else message.string
        # A plural translation follows the plural msgid, which carries the count; text without
        # placeholders must not grow any either, or formatting it would fail.
        expected = _placeholders(ids[-1])
        for string in strings:
            if string and _placeholders(string) != expected:
                wrong.append(
                    f"{_label(message)}: expected {sorted(expected)}, "
                    f"got {sorted(_placeholders(string))} in {string!r}"
                )
    assert not wrong, "placeholders differ between msgid and msgstr:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_compiles_and_loads(locale, tmp_path):
    po = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    assert po.exists(), f"no {locale} catalogue: run scripts/i18n.sh"
    catalog = _read(po)
    errors = [f"{_label(m)}: {e}" for m, errs in catalog.check() for e in errs]
    assert not errors, "babel's catalogue checks failed:\n  " + "\n  ".join(errors)

    target = tmp_path / locale / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as fileobj:
        write_mo(fileobj, catalog)
    translations = gettext.translation("messages", localedir=tmp_path, languages=[locale])
    for message in catalog:
        if not message.id or not _translated(message):
            continue
        if isinstance(message.id, tuple):
            assert translations.ngettext(*message.id, 1) == message.string[0]
        else:
            assert translations.gettext(message.id) == message.string


def test_flask_babel_serves_the_chinese_catalogue(zh, tmp_path):
    """The compiled catalogue, laid out as in saas/translations, is what Flask-Babel returns
    when the locale selector answers "zh_CN" as saas.app's does."""
    from flask import Flask
    from flask_babel import Babel, gettext

    target = tmp_path / ZH_PO.parent.relative_to(TRANSLATIONS)
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as fileobj:
        write_mo(fileobj, zh)
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(tmp_path)
    Babel(app, locale_selector=lambda: "zh_CN")
    sample = next(m for m in zh if isinstance(m.id, str) and m.id and not m.python_format)
    with app.test_request_context():
        assert gettext(sample.id) == sample.string != sample.id
