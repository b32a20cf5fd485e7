"""The web client in a real browser: headless Chromium drives `timesheets dev` on a free port.

Run by scripts/test. Screenshots of each view land in .build/screenshots/ for a person to look at.
"""
import contextlib
import datetime
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".build" / "screenshots"


def find(*candidates):
    for candidate in candidates:
        path = shutil.which(candidate) or (candidate if os.path.exists(candidate) else None)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: python3 -m pip install selenium (and apt-get install chromium chromium-driver)")
    chromium = find("chromium", "chromium-browser", "/usr/bin/chromium")
    driver_path = find("chromedriver", "/usr/bin/chromedriver")
    if not chromium or not driver_path:
        pytest.fail("Chromium cannot start: install it with apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900",
                     "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except Exception as error:  # noqa: BLE001 - report why the browser did not start
        pytest.fail(f"Chromium could not start: {error}")
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@contextlib.contextmanager
def running_dev(*arguments, prefix="timesheets-browser-"):
    """`timesheets dev` on a free port with its own data directory and `arguments`; yields (base URL, data dir) and
    stops it (exit 0 expected) afterwards."""
    binary = ROOT / ".build" / "debug" / "timesheets"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run swift build first")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data_dir = tempfile.mkdtemp(prefix=prefix)
    os.chmod(data_dir, 0o755)  # PostgreSQL runs as its own user when we are root
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    log = open(os.path.join(data_dir, "dev.log"), "w")
    process = subprocess.Popen([str(binary), "dev", "--port", str(port), "--data-dir", data_dir, *arguments],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(base + "/health/live", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    if process.poll() is not None or time.time() >= deadline:
        process.kill()
        pytest.fail("timesheets dev did not come up: " + open(os.path.join(data_dir, "dev.log")).read()[-2000:])
    try:
        yield base, pathlib.Path(data_dir)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def dev_server():
    with running_dev() as (base, _):
        yield base


def wait_for(driver, condition, timeout=15, what="condition"):
    deadline = time.time() + timeout
    last_error = None
    while time.time() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception as error:  # noqa: BLE001 - elements come and go while the page renders
            last_error = error
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last_error}")


def shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def visible(driver, selector):
    from selenium.webdriver.common.by import By
    elements = driver.find_elements(By.CSS_SELECTOR, selector)
    return elements[0] if elements and elements[0].is_displayed() else None


def log_in(driver, base, user):
    from selenium.webdriver.common.by import By
    driver.get(base + "/")
    wait_for(driver, lambda: visible(driver, "#login-big"), what="the welcome page").click()
    wait_for(driver, lambda: driver.find_elements(By.CSS_SELECTOR, f'button[value="{user}"]'), what="the login page")
    shot(driver, f"login-page-{user}")
    driver.find_element(By.CSS_SELECTOR, f'button[value="{user}"]').click()
    wait_for(driver, lambda: visible(driver, "#logout"), what=f"{user} to be logged in")


def log_out(driver):
    visible(driver, "#logout").click()
    wait_for(driver, lambda: visible(driver, "#login-big"), what="the logged-out page")


def set_value(driver, selector, value):
    element = driver.find_element("css selector", selector)
    driver.execute_script("arguments[0].value = arguments[1]", element, value)


def test_employee_records_manager_approves(browser, dev_server):
    from selenium.webdriver.common.by import By
    driver, base = browser, dev_server
    day = (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)).isoformat()

    log_in(driver, base, "employee")
    assert "employee@exampleco.com" in driver.find_element(By.ID, "who").text
    # The dev identity provider bound the token to the browser's WebCrypto key (DPoP, RFC 9449); every call below
    # carries a proof made with it, and the key cannot be read out of the page.
    session = driver.execute_script("return JSON.parse(sessionStorage.getItem('timesheets.session'))")
    assert session["tokenType"] == "DPoP", session
    assert driver.execute_script("return JSON.parse(atob(arguments[0].split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).cnf.jkt",
                                 session["accessToken"])
    assert driver.execute_async_script(
        "import('/app/dpop.js').then(m => m.dpopKeyPair()).then(k => arguments[0](k.privateKey.extractable))") is False
    assert not visible(driver, 'nav a[data-view="approvals"]'), "an employee sees no approvals link"

    # A field error for 25 hours, shown next to the field, nothing stored.
    set_value(driver, '#entry-form [name="date"]', day)
    driver.find_element(By.CSS_SELECTOR, '#entry-form [name="project"]').send_keys("StoreZero")
    set_value(driver, '#entry-form [name="hours"]', "25")
    driver.find_element(By.ID, "entry-submit").click()
    error = wait_for(driver, lambda: visible(driver, "#error-hours"), what="the hours field error")
    assert "at most 24" in error.text
    assert driver.find_element(By.CSS_SELECTOR, '#entry-form [name="project"]').get_attribute("value") == "StoreZero", "nothing typed is lost"
    shot(driver, "employee-field-error")

    # Fix it and add the entry.
    set_value(driver, '#entry-form [name="hours"]', "7.5")
    driver.find_element(By.ID, "entry-submit").click()
    row = wait_for(driver, lambda: visible(driver, "#entries tr[data-id]"), what="the new entry in the list")
    assert day in row.text and "StoreZero" in row.text and "pending" in row.text
    assert row.find_elements(By.XPATH, ".//button[text()='Edit']")
    shot(driver, "employee-timesheets")

    # The weekly chart shows it.
    driver.find_element(By.CSS_SELECTOR, 'nav a[data-view="summary"]').click()
    wait_for(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#chart svg rect"), what="the chart's bars")
    assert "StoreZero" in driver.find_element(By.ID, "legend").text
    shot(driver, "employee-chart")

    driver.find_element(By.CSS_SELECTOR, 'nav a[data-view="profile"]').click()
    wait_for(driver, lambda: "create:timesheets" in driver.find_element(By.ID, "profile").text, what="the profile")
    shot(driver, "employee-profile")
    log_out(driver)
    shot(driver, "logged-out")

    # The manager approves it.
    log_in(driver, base, "manager")
    driver.find_element(By.CSS_SELECTOR, 'nav a[data-view="approvals"]').click()
    pending = wait_for(driver, lambda: [r for r in driver.find_elements(By.CSS_SELECTOR, "#pending tr[data-id]") if day in r.text],
                       what="the employee's entry in the approvals list")[0]
    shot(driver, "manager-approvals")
    pending.find_element(By.XPATH, ".//button[text()='Approve']").click()
    wait_for(driver, lambda: not [r for r in driver.find_elements(By.CSS_SELECTOR, "#pending tr[data-id]") if day in r.text],
             what="the approved entry to leave the queue")
    log_out(driver)

    # The employee sees it approved and can no longer edit it.
    log_in(driver, base, "employee")
    row = wait_for(driver, lambda: visible(driver, "#entries tr[data-id]"), what="the employee's list")
    wait_for(driver, lambda: "approved" in driver.find_element(By.CSS_SELECTOR, "#entries tr[data-id]").text, what="the approved badge")
    row = driver.find_element(By.CSS_SELECTOR, "#entries tr[data-id]")
    assert not row.find_elements(By.XPATH, ".//button[text()='Edit']"), "an approved entry offers no edit"
    shot(driver, "employee-approved")


def test_phone_width_and_security_headers(browser, dev_server):
    driver, base = browser, dev_server
    with urllib.request.urlopen(base + "/") as response:
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    driver.get(base + "/")
    driver.execute_script("sessionStorage.clear()")
    driver.set_window_size(390, 844)
    driver.get(base + "/")
    wait_for(driver, lambda: visible(driver, "#login-big"), what="the welcome page at phone width")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
    shot(driver, "phone-welcome")
    driver.set_window_size(1200, 900)


def test_api_check_panel_shows_each_answer_or_error(browser, dev_server):
    """The seed single-page app's three buttons: public answers anyone, private needs a login, private-scoped needs
    read:messages (the dev manager has it, the employee does not)."""
    from selenium.webdriver.common.by import By
    driver, base = browser, dev_server

    def call(endpoint):
        check = driver.find_element(By.CSS_SELECTOR, f'.message-check[data-endpoint="{endpoint}"]')
        output = check.find_element(By.CSS_SELECTOR, "output")
        driver.execute_script("arguments[0].textContent = ''", output)
        check.find_element(By.CSS_SELECTOR, "button").click()
        wait_for(driver, lambda: output.text and output.text != "…", what=f"the answer of {endpoint}")
        return output.text

    # Logged out: the public endpoint answers, the private ones show their 401.
    driver.get(base + "/")
    driver.execute_script("sessionStorage.clear(); localStorage.clear()")
    driver.get(base + "/#/api-check")
    wait_for(driver, lambda: visible(driver, "#view-api-check"), what="the API check view")
    assert call("public").startswith("200: Hello from a public endpoint")
    assert call("private").startswith("401")
    shot(driver, "api-check-logged-out")

    log_in(driver, base, "employee")
    driver.get(base + "/#/api-check")
    wait_for(driver, lambda: visible(driver, "#view-api-check"), what="the API check view")
    assert call("private").startswith("200: Hello from a private endpoint")
    scoped = call("private-scoped")
    assert scoped.startswith("403 insufficient_scope"), scoped
    shot(driver, "api-check-employee")
    log_out(driver)

    log_in(driver, base, "manager")
    driver.get(base + "/#/api-check")
    wait_for(driver, lambda: visible(driver, "#view-api-check"), what="the API check view")
    assert "read:messages" in call("private-scoped")
    shot(driver, "api-check-manager")
    log_out(driver)


def test_an_entrys_detail_shows_its_history(browser, dev_server):
    """The History button of a row opens the entry's detail: who recorded it, and every change oldest first, an
    edit with its fields before and after."""
    from selenium.webdriver.common.by import By
    driver, base = browser, dev_server
    day = (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=3)).isoformat()
    driver.set_window_size(1200, 900)
    log_in(driver, base, "employee")

    def row():
        rows = [r for r in driver.find_elements(By.CSS_SELECTOR, "#entries tr[data-id]") if day in r.text]
        return rows[0] if rows else None

    set_value(driver, '#entry-form [name="date"]', day)
    driver.find_element(By.CSS_SELECTOR, '#entry-form [name="project"]').send_keys("Audit")
    set_value(driver, '#entry-form [name="hours"]', "6")
    driver.find_element(By.ID, "entry-submit").click()
    wait_for(driver, row, what="the new entry in the list")
    row().find_element(By.XPATH, ".//button[text()='Edit']").click()
    set_value(driver, '#entry-form [name="hours"]', "7.5")
    driver.find_element(By.ID, "entry-submit").click()
    wait_for(driver, lambda: row() and "7.5" in row().text, what="the edited entry")

    row().find_element(By.XPATH, ".//button[text()='History']").click()
    panel = wait_for(driver, lambda: visible(driver, "#entry-detail"), what="the entry's detail")
    wait_for(driver, lambda: len(driver.find_elements(By.CSS_SELECTOR, "#history > li")) == 2, what="two events")
    events = driver.find_elements(By.CSS_SELECTOR, "#history > li")
    assert [event.get_attribute("data-action") for event in events] == ["created", "updated"]
    assert "auth0|dev-employee" in events[0].text
    assert "Hours: 6 → 7.5" in events[1].text, events[1].text
    facts = driver.find_element(By.ID, "detail-facts").text
    assert "Recorded by" in facts and "auth0|dev-employee" in facts
    assert day in driver.find_element(By.ID, "detail-title").text
    driver.execute_script("arguments[0].scrollIntoView()", panel)
    shot(driver, "employee-entry-history")
    driver.find_element(By.ID, "detail-close").click()
    wait_for(driver, lambda: not visible(driver, "#entry-detail"), what="the detail to close")
    log_out(driver)
