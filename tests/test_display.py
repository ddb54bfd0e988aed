"""Text from data as the characters it is (lib/ui/display.py): no markdown, HTML, LaTeX or autolink
survives escape_markdown, and error_text also drops secrets. The browser proves it on the pages
(tests/test_browser_hostile.py); this pins the rules."""

from __future__ import annotations

import re

from lib.config import Settings
from lib.generation.jobs import MODES
from lib.ui.display import WORD_JOINER, error_text, escape_markdown, job_mode


def test_every_autolink_trigger_is_broken_and_the_text_reads_the_same() -> None:
    text = "see http://evil.example/x, HTTPS://a.b, www.evil.example, mailto:x@y.z and dana@evil.example"
    out = escape_markdown(text)
    assert out.replace(WORD_JOINER, "").replace("\\", "") == text
    plain = out.replace("\\", "")
    for trigger in (r"https?:", "www\\.", r"mailto:", r"@\w"):
        assert not re.search(trigger, plain, re.IGNORECASE), trigger


def test_markdown_html_and_math_are_escaped() -> None:
    out = escape_markdown("![x](http://e/x.png) <b>b</b> **s** $x^2$\nnext")
    assert "\\!\\[x\\]\\(" in out and "\\<b\\>" in out and "\\*\\*s\\*\\*" in out and "\\$x^2\\$" in out
    assert out.endswith("  \nnext")


def test_error_text_drops_a_secret_and_escapes_the_rest() -> None:
    key = "canary-display-0123456789abcdef"
    Settings(anthropic_api_key=key)
    out = error_text(ValueError(f"bad key {key} in <b>x</b>"))
    assert key not in out and "[redacted]" in out.replace("\\", "") and "\\<b\\>" in out


def test_every_job_kind_has_its_short_name_in_a_cell_and_in_a_sentence() -> None:
    assert {job_mode(k) for k in MODES} == {"Realtime", "Economy batch"}
    assert job_mode("batch", in_sentence=True) == "economy batch"
    assert job_mode(None) == "Realtime"  # a row without a kind reads as the default mode


def test_a_flash_message_never_shows_a_secret() -> None:
    from streamlit.testing.v1 import AppTest

    def page() -> None:
        from lib.core import redaction
        from lib.ui.flash import flash, show_flash

        redaction.remember("fake-ak-remembered-0123456789")
        flash("k", "error", "the endpoint said fake-ak-remembered-0123456789 *loudly*", "here")
        show_flash("k", "here")

    at = AppTest.from_function(page).run()
    [shown] = at.error
    assert "redacted" in shown.value and "remembered-0123" not in shown.value and "\\*loudly\\*" in shown.value


def test_a_table_is_as_tall_as_its_rows_up_to_its_cap() -> None:
    from lib.ui.display import table_height

    assert table_height(0) == 38 and table_height(3) == 38 + 3 * 35
    assert table_height(3, cap=100) == 100 and table_height(1, cap=100) == 73
