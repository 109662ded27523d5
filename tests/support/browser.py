"""Debian's headless Chromium driven by selenium, as the page and serve tests use it."""

from __future__ import annotations

import shutil
from typing import Any

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900",
         "--no-first-run", "--disable-background-networking", "--disable-component-update")


def start_chromium(log_types: tuple[str, ...] = ("browser",)) -> Any:
    """A headless Chromium session (its console, and with "performance" its network log,
    kept). Chromium and chromedriver are Debian packages `make test` installs (make
    system-packages); missing ones fail the tests: they are not optional."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "chromium and chromium-driver are needed: run `make system-packages` (as root)"
    chrome = webdriver.ChromeOptions()
    chrome.binary_location = binary
    for flag in FLAGS:
        chrome.add_argument(flag)
    chrome.set_capability("goog:loggingPrefs", {kind: "ALL" for kind in log_types})
    return webdriver.Chrome(service=Service(driver), options=chrome)
