"""The model card's Markdown as HTML for the model card page (Python-Markdown, "tables" and "fenced_code").

Raw HTML in the Markdown is never passed through: the two Python-Markdown steps that keep it (the
``html_block`` preprocessor and the ``html`` inline pattern) are switched off, so ``<script>`` is written
out as the text ``&lt;script&gt;``. Links and images keep only http(s), mailto and relative addresses, and
every table is wrapped in a ``div.table-scroll`` so a wide table scrolls sideways on a phone. Nothing comes
out with a ``style`` attribute (the pages' Content-Security-Policy allows no inline styles).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from markdown import Markdown
from markdown.treeprocessors import Treeprocessor

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]")


class _CardTree(Treeprocessor):
    """Wrap tables in a scrolling container; drop link/image addresses with a scheme other than
    http(s)/mailto (``javascript:``, ``data:`` ...)."""

    def run(self, root: ET.Element) -> None:
        for parent in list(root.iter()):
            for index, child in enumerate(list(parent)):
                if child.tag == "table":
                    wrapper = ET.Element(
                        "div",
                        {"class": "table-scroll", "tabindex": "0", "role": "region", "aria-label": "Tabel"},
                    )
                    parent.remove(child)
                    wrapper.append(child)
                    parent.insert(index, wrapper)
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is None:
                    continue
                scheme = _SCHEME.match(_IGNORED_IN_URL.sub("", value))
                if scheme and scheme.group(1).lower() not in SAFE_SCHEMES:
                    del element.attrib[attribute]


def markdown_to_html(text: str) -> str:
    """HTML for ``text`` (Markdown with tables and fenced code); raw HTML in ``text`` comes out escaped."""
    # Column alignment as the ``align`` attribute: the pages' Content-Security-Policy blocks inline styles.
    md = Markdown(
        extensions=["tables", "fenced_code"],
        extension_configs={"tables": {"use_align_attribute": True}},
        output_format="html",
    )
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    # After "inline" (20, which makes the links) and before "prettify" (10).
    md.treeprocessors.register(_CardTree(md), "card_tree", 15)
    return md.convert(text)
