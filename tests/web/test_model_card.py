"""The model card page renders the card's Markdown as HTML (tables, headings, code), never its raw HTML."""

from __future__ import annotations

import re

import pytest

from serving.schemas import ModelCardOut
from serving.web.markdown import markdown_to_html
from serving.web.pages import TEMPLATES
from tests.api.conftest import Api
from tests.web.helpers import page_get

CARD = """# Model card: Vroegsignaal vsv risk model

## Test-year metrics

| scorer | roc_auc | brier |
|---|---|---|
| model | 0.812 | 0.051 |
| rules | 0.701 | 0.060 |

- **att_rate_4w**: aanwezigheid laatste 4 weken

```text
p >= 0.310 & week < 12
```
"""
SCRIPT = "<script>alert(1)</script>"


def test_tables_headings_lists_and_code_become_html() -> None:
    out = markdown_to_html(CARD)
    assert "<h1>Model card: Vroegsignaal vsv risk model</h1>" in out and "<h2>Test-year metrics</h2>" in out
    table = re.search(r"<table>.*</table>", out, re.S)
    assert table is not None
    assert "<th>roc_auc</th>" in table.group(0) and "<td>0.812</td>" in table.group(0)
    assert out.count("<tr>") == 3
    assert "<li><strong>att_rate_4w</strong>: aanwezigheid laatste 4 weken</li>" in out
    assert "p &gt;= 0.310 &amp; week &lt; 12" in out and "<pre><code" in out


def test_a_table_is_wrapped_to_scroll_sideways() -> None:
    out = markdown_to_html(CARD)
    assert re.search(r'<div [^>]*class="table-scroll"[^>]*>\s*<table>', out)


def test_aligned_columns_need_no_inline_style() -> None:
    """The pages' Content-Security-Policy blocks inline styles: alignment comes as an attribute."""
    out = markdown_to_html("| a | b |\n|:--|--:|\n| 1 | 2 |")
    assert "style=" not in out
    assert '<th align="left">a</th>' in out and '<td align="right">2</td>' in out


@pytest.mark.parametrize(
    "text",
    [
        SCRIPT,
        f"Een zin met {SCRIPT} erin.",
        f"<div>\n{SCRIPT}\n</div>",
        f"| a | b |\n|---|---|\n| {SCRIPT} | x |",
        '<img src="x" onerror="alert(1)">',
    ],
)
def test_raw_html_is_escaped(text: str) -> None:
    out = markdown_to_html(text)
    assert "<script" not in out and "<img" not in out and "<div>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out or "&lt;img" in out


def test_links_keep_only_safe_addresses() -> None:
    out = markdown_to_html("[a](javascript:alert(1)) [b](https://example.org/kaart) [c](/web/modellen)")
    assert "javascript:" not in out
    assert '<a href="https://example.org/kaart">b</a>' in out and '<a href="/web/modellen">c</a>' in out


def test_the_template_shows_the_card_as_html() -> None:
    card = ModelCardOut(version="3", run_id="abc123", markdown=CARD + "\n" + SCRIPT)
    page = TEMPLATES.get_template("model_card.html").render(
        user=None,
        menu=[],
        message=None,
        path="/web/modellen/3",
        card=card,
        card_html=markdown_to_html(card.markdown),
    )
    assert "<h1>Modelkaart versie 3</h1>" in page and "MLflow-run abc123" in page
    assert "<td>0.812</td>" in page and '<pre class="card">' not in page
    assert SCRIPT not in page and "&lt;script&gt;" in page


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_route_renders_the_card(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page route with the registry's card replaced (the test registry holds no card)."""
    from serving.routes import models

    def card(version: str, *_: object) -> ModelCardOut:
        return ModelCardOut(version=version, run_id="run-7", markdown=CARD + "\n" + SCRIPT)

    monkeypatch.setattr(models, "card", card)
    page = page_get(api, "auditor", "/web/modellen/7")
    assert page.status_code == 200
    assert "Modelkaart versie 7" in page.text and "<h2>Test-year metrics</h2>" in page.text
    assert 'class="table-scroll"' in page.text and "<td>0.812</td>" in page.text
    assert SCRIPT not in page.text
