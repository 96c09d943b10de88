"""The dashboard in a real browser (Chromium, through Playwright) against a real server:
sign in, the home page, a learner's sync shown live without a reload, sign out; a wrong
password; a learner refused; everything without JavaScript; keyboard reach with a
visible focus; text contrast from the computed styles; a phone's width and a wide
screen. Screenshots are kept (``conftest.py``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS, run_async
from tests.conftest import RunningServer
from tests.integration.test_dashboard_live import push_one
from tests.integration.web import ADMIN, ELSEWHERE, IN_GROUP, INSTRUCTOR

Shot = Callable[[Any, str], Path]


def new_page(browser: Any, *, javascript: bool = True, width: int = 1280) -> Any:
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": width, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def sign_in(page: Any, server: RunningServer, name: str, password: str = "pw") -> None:
    page.goto(f"{server.url}/dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in\?next=/dashboard$"))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def learner_row(page: Any, name: str) -> Any:
    return page.locator("tr[data-learner]").filter(
        has=page.get_by_role("rowheader", name=name, exact=True)
    )


def test_an_instructor_signs_in_sees_a_sync_live_and_signs_out(
    browser: Any, server: RunningServer, artefacts: Shot
) -> None:
    page = new_page(browser)
    sign_in(page, server, INSTRUCTOR)
    expect(page).to_have_url(f"{server.url}/dashboard")
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.get_by_text(f"Signed in as {INSTRUCTOR}")).to_be_visible()
    learners = page.get_by_role("table", name=re.compile("Learners you can see"))
    expect(learners).to_be_visible()
    expect(page.get_by_role("table", name=re.compile("Courses in the catalog"))).to_contain_text(
        "Course One"
    )
    expect(page.get_by_role("table", name=re.compile("Groups you created"))).to_contain_text(
        "Group A"
    )
    row = learner_row(page, IN_GROUP)
    expect(row.locator("[data-cell='last-sync']")).to_have_text("never")
    expect(page.locator("tr[data-learner]")).to_have_count(1)  # mia is not in ines's group
    # The stream is open once the page says so; then the learner syncs on a device.
    expect(page.locator("html")).to_have_attribute("data-live", "on")
    artefacts(page, "before-sync")
    run_async(push_one(server, ELSEWHERE))  # not ines's learner: nothing changes for her
    run_async(push_one(server, IN_GROUP))
    expect(row.locator("[data-cell='last-sync']")).to_contain_text("(just now)")
    expect(row.locator("[data-cell='last-sync'] time")).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    )
    expect(row.locator("[data-cell='freshness']")).to_have_text("Synced within an hour")
    expect(page.get_by_role("status").filter(has_text="synced at")).to_contain_text(
        f"{IN_GROUP} synced at"
    )
    expect(page.locator("tr[data-learner]")).to_have_count(1)
    artefacts(page, "after-sync")
    # A reload shows the same, from the server's own data.
    page.reload()
    expect(learner_row(page, IN_GROUP).locator("[data-cell='last-sync']")).to_contain_text(
        "(just now)"
    )
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto(f"{server.url}/dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in\?next="))
    page.context.close()


def test_a_wrong_password_says_so_on_the_page(
    browser: Any, server: RunningServer, artefacts: Shot
) -> None:
    page = new_page(browser)
    sign_in(page, server, INSTRUCTOR, password="not-the-password")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Wrong user name or password.")
    expect(page.get_by_label("User name")).to_have_value(INSTRUCTOR)
    expect(page.get_by_label("Password")).to_have_value("")
    artefacts(page, "wrong-password")
    page.context.close()


def test_a_learner_is_refused(browser: Any, server: RunningServer, artefacts: Shot) -> None:
    page = new_page(browser)
    sign_in(page, server, IN_GROUP)
    expect(page.get_by_role("alert")).to_contain_text("This is a learner's account")
    assert not [c for c in page.context.cookies() if c["name"] == "waymark_session"]
    artefacts(page, "learner-refused")
    page.context.close()


def test_the_pages_work_without_javascript(
    browser: Any, server: RunningServer, artefacts: Shot
) -> None:
    page = new_page(browser, javascript=False)
    sign_in(page, server, ADMIN)
    expect(page).to_have_url(f"{server.url}/dashboard")
    expect(page.get_by_text(f"Signed in as {ADMIN}")).to_be_visible()
    expect(page.locator("tr[data-learner]")).to_have_count(2)  # the admin sees everyone
    expect(page.get_by_role("img", name="Learners by time since their last sync")).to_be_visible()
    page.get_by_role("link", name="Last sync").click()
    expect(page).to_have_url(f"{server.url}/dashboard?sort=last-sync")
    expect(page.locator("html")).not_to_have_attribute("data-live", "on")
    artefacts(page, "no-javascript")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.context.close()


FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    text: (el.innerText || el.value || "").trim(),
    tag: el.tagName.toLowerCase(),
    outline: style.outlineStyle,
    outlineWidth: parseFloat(style.outlineWidth),
    shadow: style.boxShadow,
  };
}"""


def test_the_keyboard_reaches_the_skip_link_nav_and_sign_out_with_a_visible_focus(
    browser: Any, server: RunningServer, artefacts: Shot
) -> None:
    page = new_page(browser)
    sign_in(page, server, INSTRUCTOR)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.goto(f"{server.url}/dashboard")  # a fresh load: focus starts at the document
    seen = []
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        seen.append(focused)
        if {"Sign out", "Overview"} <= {f["text"] for f in seen}:
            break
    texts = [f["text"] for f in seen]
    assert texts[0] == "Skip to main content", texts
    assert "Sign out" in texts and "Overview" in texts, texts
    for focused in seen:
        visible = (focused["outline"] != "none" and focused["outlineWidth"] >= 2) or focused[
            "shadow"
        ] != "none"
        assert visible, focused
    artefacts(page, "keyboard-focus")
    # The skip link moves the focus to the main content.
    page.keyboard.press("Shift+Tab")
    for _ in range(30):
        if page.evaluate(FOCUSED)["text"] == "Skip to main content":
            break
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.context.close()


CONTRAST = """() => {
  function rgba(text) {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    const parts = m[1].split(",").map(s => parseFloat(s));
    return {r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1};
  }
  function background(el) {
    for (let node = el; node; node = node.parentElement) {
      const bg = rgba(getComputedStyle(node).backgroundColor);
      if (bg.a > 0) return bg;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  }
  function luminance(c) {
    const lin = [c.r, c.g, c.b].map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  }
  const selector = "h1, h2, p, a, th, td, caption, button, label, span, strong, code, "
    + "summary, li, input";
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (!(el.innerText || el.value || "").trim()) continue;
    const fg = rgba(getComputedStyle(el).color);
    const bg = background(el);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    out.push({
      what: el.tagName.toLowerCase() + " " + (el.innerText || el.value).trim().slice(0, 40),
      ratio: (hi + 0.05) / (lo + 0.05),
    });
  }
  return out;
}"""


def test_text_contrast_is_at_least_4_5_to_1_on_a_phone_and_a_wide_screen(
    browser: Any, server: RunningServer, artefacts: Shot
) -> None:
    for width in (320, 1440):
        page = new_page(browser, width=width)
        page.goto(f"{server.url}/dashboard/sign-in")
        checked = page.evaluate(CONTRAST)
        sign_in(page, server, ADMIN)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        checked += page.evaluate(CONTRAST)
        assert len(checked) > 20
        low = [c for c in checked if c["ratio"] < 4.5]
        assert not low, low
        # Readable on a phone: nothing but the tables' own scrolling regions is wider
        # than the screen.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        artefacts(page, f"home-{width}px")
        page.context.close()
