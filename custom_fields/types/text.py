"""Text: one line, trimmed, up to ``max_length`` (default 255), optionally matching ``regex``."""

from custom_fields.types import register
from custom_fields.types._common import TextLike


@register
class TextType(TextLike):
    name = "text"
    widget = "text"
