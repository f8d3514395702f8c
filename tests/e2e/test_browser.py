"""A person at the page: headless Chromium draws on the canvas, sees candidates, picks one."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from farga.serving.process import running_server
from farga.serving.store import FeedbackStore

pytestmark = pytest.mark.e2e

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    reason = "Debian's chromium and chromium-driver are not installed (`make system-deps` installs them)"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)  # CI installs them: a missing browser is a failure there
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture
def browser(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1100,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("the page did not get there in time")


def pick_the_second(browser, items: list, attribute: str, status: str, screenshot: Path) -> str:
    """Click the second of five candidates, as a user correcting the top answer, and wait until the
    page says the feedback was saved; the candidate's label (its ``attribute``)."""
    from selenium.webdriver.common.by import By

    assert len(items) == 5
    chosen: str = items[1].get_attribute(attribute)
    browser.save_screenshot(str(screenshot))
    items[1].click()
    wait_for(lambda: "saved" in browser.find_element(By.ID, status).text)
    return chosen


# `make screenshot`: the same test against a project's own champions (FARGA_SCREENSHOT_FROM=its root),
# saving the page with its candidates as docs/pad.png for the README
SCREENSHOT_FROM = os.environ.get("FARGA_SCREENSHOT_FROM")


@pytest.fixture
def page_root(served: Path, tmp_path: Path) -> Path:
    """The test's trained project; or a copy of the registry of FARGA_SCREENSHOT_FROM (models stay there)."""
    if not SCREENSHOT_FROM:
        return served
    root = tmp_path / "screenshot"
    root.mkdir()
    shutil.copy(Path(SCREENSHOT_FROM) / "mlflow.db", root / "mlflow.db")
    return root


def copy_as_each_form(browser) -> None:
    """The copy button of a candidate copies the form chosen in "copy as": its LaTeX command, Unicode
    character or Typst name, as the catalogue gives them (the clipboard is recorded, then written)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from farga.symbols import catalogue

    browser.execute_script(
        "window.__copied = []; const write = navigator.clipboard.writeText.bind(navigator.clipboard);"
        "navigator.clipboard.writeText = (t) => { window.__copied.push(t); return write(t).catch(() => {}); };"
    )
    for form in ("typst", "unicode", "latex"):
        Select(browser.find_element(By.ID, "copy-as")).select_by_value(form)
        items = browser.find_elements(By.CSS_SELECTOR, "li.candidate")
        named = [i for i in items if getattr(catalogue.by_latex()[i.get_attribute("data-latex")], form)]
        assert named, f"no candidate has a {form} form"
        named[0].find_element(By.CSS_SELECTOR, "button.copy").click()
        wait_for(lambda: browser.execute_script("return window.__copied.length") > 0)
        copied = browser.execute_script("return window.__copied.pop()")
        assert copied == getattr(catalogue.by_latex()[named[0].get_attribute("data-latex")], form)
        nameless = [i for i in items if not getattr(catalogue.by_latex()[i.get_attribute("data-latex")], form)]
        for item in nameless:  # a form the symbol lacks is said, not copied as something else
            assert item.find_element(By.CSS_SELECTOR, "button.copy").get_attribute("disabled") is not None


def test_draw_see_candidates_pick_one_and_the_feedback_is_stored(page_root: Path, browser, tmp_path: Path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    with running_server(page_root, env={"FARGA_COMPONENTS": "symbols"} if SCREENSHOT_FROM else None) as url:
        browser.get(url + "/")  # the page opens on the symbols pad
        canvas = wait_for(lambda: browser.find_elements(By.ID, "pad"))[0]
        actions = ActionChains(browser)
        # two strokes: an X, relative to the canvas centre
        for start, end in [((-100, -100), (100, 100)), ((-100, 100), (100, -100))]:
            actions.move_to_element_with_offset(canvas, *start).click_and_hold()
            for i in range(1, 11):
                x = start[0] + (end[0] - start[0]) * i // 10
                y = start[1] + (end[1] - start[1]) * i // 10
                actions.move_to_element_with_offset(canvas, x, y)
            actions.release()
        actions.perform()
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "li.candidate"))
        time.sleep(1.0)  # classification runs while drawing: let the last answer replace the list
        copy_as_each_form(browser)
        items = browser.find_elements(By.CSS_SELECTOR, "li.candidate")
        shot = Path(SCREENSHOT_FROM) / "docs" / "pad.png" if SCREENSHOT_FROM else tmp_path / "page.png"
        chosen = pick_the_second(browser, items, "data-latex", "status", shot)
        store = FeedbackStore(f"sqlite:///{page_root / 'feedback.db'}")
        labelled = list(store.labelled("symbols"))
        assert [p.feedback_label for p in labelled] == [chosen]
        assert labelled[0].input_kind == "strokes"
        assert len(labelled[0].input_json) == 2
        # "none of these": search the catalogue and pick from it; the label is corrected
        browser.find_element(By.ID, "none").click()
        search = wait_for(lambda: browser.find_element(By.ID, "search"))
        search.send_keys("alpha")
        hit = wait_for(
            lambda: [
                h
                for h in browser.find_elements(By.CSS_SELECTOR, "li.search-hit")
                if h.get_attribute("data-latex") == r"\alpha"
            ]
        )
        hit[0].click()
        wait_for(lambda: "saved \\alpha" in browser.find_element(By.ID, "status").text)
        assert [p.feedback_label for p in store.labelled("symbols")] == [r"\alpha"]
        # a symbol the catalogue lacks: typed with its package, it is kept as a new symbol
        browser.find_element(By.ID, "none").click()
        search = wait_for(lambda: browser.find_element(By.ID, "search"))
        search.send_keys(r"\boxast")
        wait_for(lambda: browser.find_element(By.ID, "teach-package")).send_keys("stmaryrd")
        browser.find_element(By.ID, "teach").click()
        wait_for(lambda: "\\boxast is new here" in browser.find_element(By.ID, "status").text)
        [row] = store.labelled("symbols")
        assert (row.feedback_label, row.feedback_package) == (r"\boxast", "stmaryrd")


def test_type_a_sentence_see_words_for_each_mask_and_pick_one(served: Path, browser, tmp_path: Path):
    from selenium.webdriver.common.by import By

    with running_server(served) as url:
        browser.get(url + "/#fillmask")
        text = wait_for(lambda: browser.find_elements(By.ID, "fm-text"))[0]
        text.clear()
        text.send_keys("Hi ha una frase sense marcador.")
        browser.find_element(By.ID, "fm-predict").click()
        wait_for(lambda: "no <mask> marker" in browser.find_element(By.ID, "fm-status").text)
        text.clear()
        text.send_keys("Les cases de ")
        browser.find_element(By.ID, "fm-insert").click()
        text.send_keys(" són molt grans.")
        browser.find_element(By.ID, "fm-predict").click()
        items = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".fillmask li.candidate"))
        chosen = pick_the_second(browser, items, "data-token", "fm-status", tmp_path / "fillmask.png")
        store = FeedbackStore(f"sqlite:///{served / 'feedback.db'}")
        labelled = list(store.labelled("fillmask"))
        assert [p.feedback_label for p in labelled] == [f'["{chosen}"]']
        assert labelled[0].input_json["text"] == "Les cases de <mask> són molt grans."
