"""Basic accessibility of both pages: labelled controls, WCAG AA text contrast, keyboard use."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from .a11y import UNLABELLED_JS, contrast, low_contrast, text_pairs
from .conftest import LAPTOP, LiveServer, token
from .dashboard_steps import open_dashboard, sign_in

pytestmark = pytest.mark.browser


def test_contrast_formula_matches_wcag_reference_values() -> None:
    assert contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)") == pytest.approx(21.0)
    assert contrast("rgb(255, 255, 255)", "rgb(255, 255, 255)") == pytest.approx(1.0)
    # #767676 on white is the classic just-passing grey (4.54), #777777 just fails (4.48).
    assert contrast("rgb(118, 118, 118)", "rgb(255, 255, 255)") == pytest.approx(4.54, abs=0.01)
    assert contrast("rgb(119, 119, 119)", "rgb(255, 255, 255)") < 4.5
    # Half-transparent black over white blends to mid grey.
    assert contrast("rgba(0, 0, 0, 0.5)", "rgb(255, 255, 255)") == pytest.approx(3.95, abs=0.05)


def test_board_text_contrast_is_aa(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    page.wait_for_selector("#case-rows tr[data-case-no] td.warning .badge")
    page.wait_for_function("() => !document.querySelector('tr.flash')", timeout=10_000)
    assert text_pairs(page) > 40
    assert low_contrast(page) == []
    # The probe does see a bad pair when there is one.
    page.evaluate(
        """() => { const p = document.createElement('p'); p.textContent = '低对比度';
        p.style.color = '#1d3a5c'; document.querySelector('footer').append(p); }"""
    )
    assert [row[0] for row in low_contrast(page)] == ["低对比度"]


def test_dashboard_controls_are_labelled_and_text_contrast_is_aa(
    page: Any, live_server: LiveServer
) -> None:
    page.goto(live_server.url + "/dashboard")
    assert page.evaluate(UNLABELLED_JS) == []  # signed out: the token field
    sign_in(page, token("inspector"))
    page.locator("#flags button.flag").first.click()
    page.wait_for_selector("#timeline tr.evidence")
    assert page.evaluate(UNLABELLED_JS) == []  # signed in: date picker, filters, flags
    for control in ("as-of-date", "flag-rule", "flag-state"):
        assert page.locator(f'label[for="{control}"]').inner_text().strip()
    assert text_pairs(page) > 80
    assert low_contrast(page) == []


def test_keyboard_reaches_date_picker_and_flags_and_enter_opens_a_flag(
    page: Any, live_server: LiveServer
) -> None:
    page.set_viewport_size(LAPTOP)
    open_dashboard(page, live_server, token("inspector"))
    page.locator("body").focus()
    seen: list[str] = []
    reached_date = reached_flag = False
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
            return [e.id, e.className, getComputedStyle(e).outlineStyle]; }"""
        )
        seen.append(f"{focused[0]}.{focused[1]}")
        if focused[0] == "as-of-date" and not reached_date:
            reached_date = True
            assert focused[2] != "none", "no visible focus ring on the date picker"
        if focused[1] == "flag":
            reached_flag = True
            assert focused[2] != "none", "no visible focus ring on a flag"
            break
    assert reached_date, f"Tab never reached the as-of date picker: {seen}"
    assert reached_flag, f"Tab never reached a supervision flag: {seen}"
    assert seen.index("as-of-date.") < len(seen) - 1
    flag_id = page.evaluate("() => document.activeElement.dataset.flagId")
    page.keyboard.press("Enter")
    drill = page.locator("#drill")
    expect(drill).to_be_visible()
    expect(drill).to_have_attribute("data-flag-id", flag_id)
    expect(page.locator("#timeline tr.evidence").first).to_be_visible()
    expect(page.locator(f'button.flag[data-flag-id="{flag_id}"]')).to_have_attribute(
        "aria-expanded", "true"
    )
