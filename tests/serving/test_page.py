"""The model page at /: the package's facts, escaped, and a "Try it" form that works in a real
headless Chromium (Debian's chromium and chromium-driver, driven with selenium)."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from winedata import WINE_COLUMNS

import modelpack
from modelpack.serving.page import pretty_json
from modelpack.signature.schema import ColSpec, DataType, ModelSignature, Schema

from .apps import AppClient, client_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
HOSTILE = '</script><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


def test_the_page_shows_what_info_shows(client: AppClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<h1>wine</h1>" in page
    for column in WINE_COLUMNS:
        assert f"<td>{column}</td>" in page
    assert "scikit-learn==" in page  # requirements
    assert "Manifest: " in page and "Signed:   no" in page
    assert 'href="openapi.json"' in page or "href=openapi.json" in page
    assert "href=metrics" in page
    # Nothing to fetch from elsewhere: no CDN, no external script, style or font.
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)


def test_everything_from_the_package_is_escaped(tmp_path: Path) -> None:
    package = tmp_path / HOSTILE.replace("/", "_")[:60]
    signature = ModelSignature(Schema([ColSpec(DataType.string, HOSTILE)]))
    modelpack.save_model(
        _Echo(),
        package,
        signature=signature,
        input_example=pd.DataFrame({HOSTILE: [HOSTILE]}),
        pip_requirements=[f"pkg; extra == '{HOSTILE}'"],
    )
    model = modelpack.load_model(package)
    with client_for(model) as client:
        page = client.get("/").text
    assert HOSTILE not in page
    assert "<script>window.pwned" not in page
    assert "<img src=x" not in page
    assert "&lt;/script&gt;&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page  # the table
    assert "\\u003c/script\\u003e" in page  # the example in its JSON block


class _Echo(modelpack.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return list(model_input.iloc[:, 0])


def test_the_example_reads_one_row_per_line() -> None:
    example = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2.5], [3, None]]}}
    assert pretty_json(example) == (
        '{\n  "dataframe_split": {\n    "columns": ["a", "b"],\n'
        '    "data": [\n      [1, 2.5],\n      [3, null]\n    ]\n  }\n}'
    )
    assert orjson.loads(pretty_json(example)) == example


# -- in Chromium ----------------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (.ci/system-deps installs them)",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,1600",
        f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _try(driver: Any) -> tuple[str, str, str]:
    """Click "Try it"; the status line, the result's class and its text once answered."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    result = driver.find_element(By.ID, "result")
    driver.execute_script("document.getElementById('result').className = 'waiting'")
    driver.find_element(By.ID, "try").click()
    WebDriverWait(driver, 30).until(lambda d: result.get_attribute("class") in ("ok", "error"))
    return (
        driver.find_element(By.ID, "status").text,
        str(result.get_attribute("class")),
        result.text,
    )


@needs_chromium
def test_try_it_in_chromium(
    browser: Any, start_server: Any, sklearn_package: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    server = start_server("-m", str(sklearn_package), env={"MODELPACK_AUTH_TOKEN": "s3cret"})
    browser.get(f"{server.url}/")
    assert browser.title == "wine · modelpack"
    body = browser.find_element(By.ID, "body").get_attribute("value")
    assert orjson.loads(body)["dataframe_split"]["columns"] == WINE_COLUMNS  # pre-filled

    status, kind, text = _try(browser)  # no token typed: the server says so
    assert kind == "error" and status.startswith("401 error")
    assert '"error_code": "UNAUTHENTICATED"' in text

    browser.find_element(By.ID, "token").send_keys("s3cret")
    status, kind, text = _try(browser)
    assert kind == "ok" and status.startswith("200 OK in ")
    predictions = orjson.loads(text)["predictions"]
    assert len(predictions) == 3 and all(isinstance(p, float) for p in predictions)
    browser.find_element(By.ID, "result").location_once_scrolled_into_view  # noqa: B018
    shot = tmp_path / "try-it.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    area = browser.find_element(By.ID, "body")
    area.clear()
    area.send_keys('{"inputs": {"pH": ["acidic"]}}')
    status, kind, text = _try(browser)
    assert kind == "error" and status.startswith("400 error")
    assert "INVALID_PARAMETER_VALUE" in text


@needs_chromium
def test_a_hostile_package_runs_no_script_in_chromium(
    browser: Any, start_server: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    package = tmp_path / "hostile"
    signature = ModelSignature(Schema([ColSpec(DataType.string, HOSTILE)]))
    # A lambda: pickled by value, so the server's process needs no module of this test's.
    modelpack.save_model(
        lambda frame: list(frame.iloc[:, 0]),
        package,
        signature=signature,
        input_example=pd.DataFrame({HOSTILE: ["ok"]}),
    )
    server = start_server("-m", str(package))
    browser.get(f"{server.url}/")
    assert browser.execute_script("return window.pwned === undefined")
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "td")]
    assert HOSTILE in cells  # shown as text
    example = orjson.loads(browser.find_element(By.ID, "body").get_attribute("value"))
    assert example == {"dataframe_split": {"columns": [HOSTILE], "data": [["ok"]]}}
    status, kind, text = _try(browser)
    assert (kind, status[:6]) == ("ok", "200 OK"), text
    assert orjson.loads(text) == {"predictions": ["ok"]}
