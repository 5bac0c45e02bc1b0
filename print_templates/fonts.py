"""The fonts PDFs are printed with: Noto Sans SC, prepared once so that Chinese renders fast.

**Where the font comes from.** The npm package ``@expo-google-fonts/noto-sans-sc`` (in
``package.json``; ``./dev setup`` installs it) carries Google Fonts' Noto Sans SC as static
TrueType files (glyf outlines, ~31,000 glyphs, 10.5 MB a weight). Noto Sans SC is under the SIL
Open Font License 1.1, which allows modified versions under another name: the derived fonts are
called *Kehu Sans SC* and the licence is copied beside them (``OFL.txt``).

**Why it is prepared.** WeasyPrint subsets every font it embeds. With the full Noto Sans CJK
collection (65,000 CFF glyphs) that took 5–14 s per document when WeasyPrint falls back to
fontTools (the default on a machine without HarfBuzz's subsetting library); most of it was spent
decompiling the big GSUB/GPOS tables. So :func:`ensure_fonts` builds, once, into
``$KEHU_DATA_DIR/fonts`` (or ``$KEHU_FONT_DIR``):

* ``KehuSansSC-Regular.ttf`` / ``-Bold.ttf`` (family *Kehu Sans SC*, ~2.3 MB each): the
  characters a CRM prints — GB 2312 (6,763 hanzi, full-width forms, punctuation), Latin with
  accents, digits, currency and maths signs, arrows, circled numbers, box drawing;
* ``KehuSansSCExtra-Regular.ttf`` / ``-Bold.ttf`` (family *Kehu Sans SC Extra*): every other
  character of Noto Sans SC (the rest of the CJK Unified Ideographs, extension A, rare forms), so
  a rare name character still prints with the right glyph — it costs that document a few
  hundred milliseconds more, when it is used at all;

all without GSUB/GPOS/BASE layout tables (WeasyPrint drops them from embedded fonts anyway; the
only loss is Latin kerning and vertical-writing forms) and without hinting. The two families
cover disjoint characters and each has its real character map, so the fallback is per
character, never a wrong glyph (unlike fonts split into ``unicode-range`` pieces).

**How WeasyPrint finds them.** :func:`font_config` builds one WeasyPrint ``FontConfiguration``
per process from a Fontconfig file that lists *only* this folder: the system's fonts are never
used, so a PDF looks the same on every machine and no document can fall back to a slow system
CJK font. Every family name a template asks for (``serif``, ``Arial``, ``SimSun``…) resolves to
Kehu Sans SC, then Kehu Sans SC Extra; characters neither covers (emoji, Hangul) print as empty
boxes. ``@font-face`` rules in templates are ignored: the configuration is shared by every
render of the process, so one company's font must never reach another's documents.

Measured on the development machine (2 cores, bench/RESULTS.md): a 20-line Chinese quote in
~0.1 s of PDF writing through fontTools, ~0.02 s through HarfBuzz.

``python -m print_templates.fonts`` builds what is missing (``./dev setup`` runs it; a second
run only checks a manifest); ``--force`` rebuilds; ``--check`` exits 1 when the fonts are not
ready.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from print_templates import subsetting

LOGGER = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent

#: The npm package the font comes from, and where ``npm ci`` puts it.
SOURCE_PACKAGE = "@expo-google-fonts/noto-sans-sc"
FAMILY = "Kehu Sans SC"
FALLBACK_FAMILY = "Kehu Sans SC Extra"
#: What the base stylesheet sets on ``html``; every other family name resolves to it too.
FONT_STACK = f'"{FAMILY}", "{FALLBACK_FAMILY}"'

#: Bump when the recipe below changes: every checkout then rebuilds its fonts once.
RECIPE = 1

#: Code point ranges of the core font besides GB 2312 (which brings the hanzi, kana, Greek,
#: Cyrillic, full-width forms and CJK punctuation).
CORE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x024F),  # Latin-1 supplement, Latin extended A and B (names, addresses)
    (0x02B0, 0x02FF),  # spacing modifiers (ˇ ˉ ˊ ˋ in pinyin)
    (0x0300, 0x036F),  # combining marks (pinyin tones typed as combining characters)
    (0x1E00, 0x1EFF),  # Latin extended additional (Vietnamese)
    (0x2000, 0x206F),  # general punctuation (— – ‘ ’ “ ” … ‰ ※)
    (0x20A0, 0x20C0),  # currency signs (€ ₩ ₹ ₽)
    (0x2100, 0x218F),  # letterlike and number forms (℃ № ™ Ⅻ)
    (0x2190, 0x21FF),  # arrows
    (0x2200, 0x22FF),  # mathematical operators (× ÷ ± ≤ ≥ ≈)
    (0x2460, 0x24FF),  # enclosed alphanumerics (① ⑴ ⒈)
    (0x2500, 0x25FF),  # box drawing, blocks, geometric shapes (■ □ ▲ ○ ●)
    (0x2600, 0x26FF),  # miscellaneous symbols (★ ☆ ☎ ☑)
    (0x2700, 0x27BF),  # dingbats (✓ ✔ ✗)
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3200, 0x32FF),  # enclosed CJK (㈠ ㊣)
    (0x3300, 0x33FF),  # CJK compatibility (㎡ ㎏ ㎞)
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half-width and full-width forms
)
#: Hanzi outside GB 2312 that are common in people's and companies' names (通用规范汉字表).
CORE_EXTRA_HANZI = (
    "喆堃昇珺祎赟旻燚犇垚鑫淼槿玥琍瑄琰璟璐瑾瑜珏玮炜烨焱煜昱晟晔皓颢钰铠锴锋镕镠"
    "婕婧媛嫣妍姝娅婷琪琳瑶瑛璇萱蕾薇芮苒莘蓁菁荟蔚鹏鸿骞骐骏驰犀彧翀翊翌翔羿"
    "祐祯禛祺禧韬韫颀颉頔昕晞晗晖暄曦曌旸炅炘焜熠熙燊冕冉凇凌沅汐沄泓泱洵涵淇"
    "潇澜澍濠瀚灏嵘崧巍岚峥屹峤崑砚磊砺彤彬彪杉桉栩梓楠榕樾橦檀栎柏炤琛琮琦"
    "堉埕垣坤坪圳鋆銮锶铎铖钊钲钦钧铭锐锟锦闿阗阊睿璨瑭璋瑗瑢瑀琇琬琚琨"
)

#: (file name, npm source file, family, weight, part) of each prepared face.
FACES: tuple[tuple[str, str, str, int, str], ...] = (
    ("KehuSansSC-Regular.ttf", "400Regular/NotoSansSC_400Regular.ttf", FAMILY, 400, "core"),
    ("KehuSansSC-Bold.ttf", "700Bold/NotoSansSC_700Bold.ttf", FAMILY, 700, "core"),
    (
        "KehuSansSCExtra-Regular.ttf",
        "400Regular/NotoSansSC_400Regular.ttf",
        FALLBACK_FAMILY,
        400,
        "extra",
    ),
    ("KehuSansSCExtra-Bold.ttf", "700Bold/NotoSansSC_700Bold.ttf", FALLBACK_FAMILY, 700, "extra"),
)
#: Tables dropped from the prepared fonts (see the module docstring).
DROPPED_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "STAT", "vhea", "vmtx", "VORG", "DSIG")


class FontsUnavailable(RuntimeError):
    """The font source is not installed and the prepared fonts are missing."""


def font_dir() -> Path:
    """Where the prepared fonts live: ``$KEHU_FONT_DIR``, else ``$KEHU_DATA_DIR/fonts``."""
    if os.environ.get("KEHU_FONT_DIR"):
        return Path(os.environ["KEHU_FONT_DIR"]).resolve()
    from saas.config import DATA_DIR

    return (DATA_DIR / "fonts").resolve()


def source_dir() -> Path:
    """The installed npm package: ``$KEHU_FONT_SOURCE``, else ``node_modules`` of the checkout."""
    if os.environ.get("KEHU_FONT_SOURCE"):
        return Path(os.environ["KEHU_FONT_SOURCE"]).resolve()
    return ROOT / "node_modules" / SOURCE_PACKAGE


def _gb2312() -> set[int]:
    chars: set[int] = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                chars.add(ord(bytes((high, low)).decode("gb2312")))
    return chars


def core_characters() -> frozenset[int]:
    """Code points the core font (*Kehu Sans SC*) is asked to cover."""
    chars = _gb2312()
    for start, end in CORE_RANGES:
        chars.update(range(start, end + 1))
    chars.update(ord(c) for c in CORE_EXTRA_HANZI)
    return frozenset(chars)


def _source_version(source: Path) -> str:
    try:
        return json.loads((source / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "unknown"


def _manifest_wanted(source: Path) -> dict[str, Any]:
    return {
        "recipe": RECIPE,
        "source": SOURCE_PACKAGE,
        "version": _source_version(source),
        "files": [face[0] for face in FACES],
    }


def _ready(directory: Path, wanted: dict[str, Any] | None) -> bool:
    """Whether ``directory`` holds a complete build (of ``wanted`` when the source is known)."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if not all((directory / name).is_file() for name in manifest.get("files", ())):
        return False
    if manifest.get("recipe") != RECIPE:
        return False
    if wanted is None:
        return True
    return all(manifest.get(key) == value for key, value in wanted.items())


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One builder at a time across processes (test workers, a web process and a worker)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _rename(font: Any, family: str, weight: int) -> None:
    """Give a derived font its own name (the OFL asks modified fonts not to pose as the
    original) while keeping the copyright and licence records."""
    style = "Bold" if weight >= 600 else "Regular"
    postscript = family.replace(" ", "") + "-" + style
    names = font["name"]
    names.names = [n for n in names.names if n.nameID in {0, 7, 8, 9, 10, 11, 12, 13, 14}]
    for name_id, value in (
        (1, family),
        (2, style),
        (3, f"{postscript};derived from Noto Sans SC;recipe {RECIPE}"),
        (4, f"{family} {style}"),
        (5, f"Version 2.004; derived from Noto Sans SC, recipe {RECIPE}"),
        (6, postscript),
    ):
        names.setName(value, name_id, 3, 1, 0x409)
    font["OS/2"].usWeightClass = weight


def _decompose(font: Any) -> None:
    """Turn composite glyphs into simple ones, so a glyph never needs another to be drawn
    (what :mod:`print_templates.subsetting` relies on). Noto Sans SC has none today."""
    from fontTools.pens.recordingPen import DecomposingRecordingPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    glyf = font["glyf"]
    glyph_set = font.getGlyphSet()
    for name in font.getGlyphOrder():
        if glyf[name].isComposite():
            recording = DecomposingRecordingPen(glyph_set)
            glyph_set[name].draw(recording)
            pen = TTGlyphPen(None)
            recording.replay(pen)
            glyf[name] = pen.glyph()


def _build_face(source: Path, target: Path, unicodes: Iterable[int], family: str, weight: int):
    from fontTools import subset
    from fontTools.ttLib import TTFont

    # fontTools reports every requested code point the source lacks: expected here.
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.drop_tables = [*options.drop_tables, *DROPPED_TABLES]
    options.name_IDs = ["*"]
    options.name_languages = [0x409]
    options.notdef_outline = True
    options.glyph_names = False
    options.recalc_bounds = True
    font = TTFont(source, lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    _decompose(font)
    _rename(font, family, weight)
    font.save(target)
    font.close()


def build_fonts(directory: Path | None = None, source: Path | None = None) -> Path:
    """Build every face into ``directory`` from the npm package, replacing what is there."""
    from fontTools.ttLib import TTFont

    directory = directory or font_dir()
    source = source or source_dir()
    missing = [rel for _name, rel, *_rest in FACES if not (source / rel).is_file()]
    if missing:
        raise FontsUnavailable(
            f"The font package {SOURCE_PACKAGE} is not installed in {source} "
            f"(missing {missing[0]}): run ./dev setup, or npm ci in the checkout."
        )
    directory.mkdir(parents=True, exist_ok=True)
    core = core_characters()
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as tmp:
        for name, rel, family, weight, part in FACES:
            if part == "core":
                unicodes: Iterable[int] = core
            else:
                with TTFont(source / rel, lazy=True) as full:
                    unicodes = set(full.getBestCmap()) - core
            LOGGER.info("building %s", name)
            _build_face(source / rel, Path(tmp) / name, unicodes, family, weight)
        for name, *_rest in FACES:
            os.replace(Path(tmp) / name, directory / name)
    licence = source / "LICENSE_FONT"
    if licence.is_file():
        shutil.copyfile(licence, directory / "OFL.txt")
    _write_fontconfig(directory)
    manifest = _manifest_wanted(source)
    (directory / "manifest.json.tmp").write_text(json.dumps(manifest, indent=2))
    os.replace(directory / "manifest.json.tmp", directory / "manifest.json")
    return directory


def ensure_fonts(*, force: bool = False) -> Path:
    """The folder of prepared fonts, building them first when missing or out of date.

    Fast when they are ready (one small JSON read). With the npm package absent, prepared fonts
    of the current recipe are used as they are; with neither, :class:`FontsUnavailable`.
    """
    directory = font_dir()
    source = source_dir()
    wanted = _manifest_wanted(source) if source.is_dir() else None
    if not force and _ready(directory, wanted):
        _write_fontconfig(directory, only_if_missing=True)
        return directory
    with _locked(directory):
        if not force and _ready(directory, wanted):  # another process built them meanwhile
            return directory
        return build_fonts(directory, source)


FONTCONFIG_FILE = "fonts.conf"


def _write_fontconfig(directory: Path, *, only_if_missing: bool = False) -> Path:
    """A Fontconfig file that knows only ``directory`` and maps every family to ours."""
    path = directory / FONTCONFIG_FILE
    folder = escape(str(directory))
    families = "".join(
        f'<edit name="family" mode="append_last" binding="weak"><string>{escape(f)}</string></edit>'
        for f in (FAMILY, FALLBACK_FAMILY)
    )
    text = f"""<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<!-- Generated by print_templates/fonts.py: the PDF renderer sees these fonts only. -->
<fontconfig>
  <dir>{folder}</dir>
  <cachedir>{folder}/cache</cachedir>
  <config><rescan><int>0</int></rescan></config>
  <match target="pattern">{families}</match>
  <match target="font">
    <test name="slant" compare="eq"><const>roman</const></test>
    <test target="pattern" name="slant" compare="not_eq"><const>roman</const></test>
    <edit name="matrix" mode="assign">
      <times><name>matrix</name>
        <matrix><double>1</double><double>0.2</double><double>0</double><double>1</double></matrix>
      </times>
    </edit>
    <edit name="slant" mode="assign"><const>oblique</const></edit>
  </match>
</fontconfig>
"""
    if only_if_missing and path.is_file() and path.read_text() == text:
        return path
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


@contextlib.contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@dataclass(frozen=True)
class _Loaded:
    directory: Path
    config: Any


_loaded: _Loaded | None = None
_load_lock = threading.Lock()


def _configuration_class() -> type:
    from weasyprint.text.fonts import FontConfiguration

    class KehuFontConfiguration(FontConfiguration):
        """WeasyPrint's font configuration on our Fontconfig file; ``@font-face`` ignored."""

        def __init__(self, conf: Path):
            # Fontconfig reads FONTCONFIG_FILE when a configuration is loaded, so setting it
            # around this call scopes it to this configuration only.
            with _environ("FONTCONFIG_FILE", str(conf)):
                super().__init__()

        def add_font_face(self, rule_descriptors: Any, url_fetcher: Any) -> None:
            LOGGER.info("@font-face %r ignored", rule_descriptors.get("font_family"))

    return KehuFontConfiguration


def font_config() -> Any:
    """The process's WeasyPrint font configuration (built on first use)."""
    global _loaded
    if _loaded is None:
        with _load_lock:
            if _loaded is None:
                directory = ensure_fonts()
                conf = _write_fontconfig(directory, only_if_missing=True)
                subsetting.install((FAMILY, FALLBACK_FAMILY))
                _loaded = _Loaded(directory, _configuration_class()(conf))
    return _loaded.config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m print_templates.fonts", description="Prepare the PDF fonts."
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("--check", action="store_true", help="only tell whether they are ready")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    LOGGER.setLevel(logging.INFO)
    if args.check:
        source = source_dir()
        ok = _ready(font_dir(), _manifest_wanted(source) if source.is_dir() else None)
        print(f"PDF fonts {'ready' if ok else 'missing or out of date'} in {font_dir()}")
        return 0 if ok else 1
    try:
        directory = ensure_fonts(force=args.force)
    except FontsUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"PDF fonts ready in {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
