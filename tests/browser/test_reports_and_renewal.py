"""The Reports view and token renewal in headless Chromium, against `timesheets dev --seed` whose browser tokens live
20 seconds (`--web-token-lifetime 20`), so the client has to renew them while a person is typing.

Screenshots land in .build/screenshots/ (reports-*.png, renewal-*.png).
"""
import base64
import csv
import datetime
import io
import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from test_web_client import ROOT, browser, log_in, log_out, running_dev, set_value, shot, visible, wait_for  # noqa: F401

LIFETIME = 20


@pytest.fixture(scope="module")
def short_token_server():
    with running_dev("--seed", "--web-token-lifetime", str(LIFETIME), prefix="timesheets-reports-") as server:
        yield server


def cli_token(base, data_dir, role):
    """A token from `timesheets token` for `role`: the browser's own token is DPoP-bound to a key that never leaves
    the browser, so a check from here uses a token of the same user minted by the CLI."""
    port = urllib.parse.urlsplit(base).port
    return subprocess.run([str(ROOT / ".build" / "debug" / "timesheets"), "token", "--user", role, "--port", str(port),
                           "--data-dir", str(data_dir)], check=True, capture_output=True, text=True,
                          timeout=60).stdout.strip()


def session(driver):
    return json.loads(driver.execute_script("return sessionStorage.getItem('timesheets.session')") or "null")


def claims(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_manager_sees_a_report_table_chart_and_downloads_csv(browser, short_token_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    driver, (base, data_dir) = browser, short_token_server
    downloads = data_dir / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})

    log_in(driver, base, "employee")
    assert not visible(driver, 'nav a[data-view="reports"]'), "an employee has no read:reports"
    driver.get(base + "/#/reports")
    wait_for(driver, lambda: visible(driver, "#view-timesheets"), what="an employee sent back to their timesheets")
    log_out(driver)

    log_in(driver, base, "manager")
    driver.find_element(By.CSS_SELECTOR, 'nav a[data-view="reports"]').click()
    wait_for(driver, lambda: visible(driver, "#view-reports"), what="the reports view")
    # The seed holds weekdays of the last four weeks; every seeded entry is pending until approved, so count all.
    today = datetime.datetime.now(datetime.timezone.utc).date()
    start = (today - datetime.timedelta(days=35)).isoformat()
    set_value(driver, '#report-form [name="from"]', start)
    set_value(driver, '#report-form [name="to"]', today.isoformat())
    Select(driver.find_element(By.CSS_SELECTOR, '#report-form [name="group_by"]')).select_by_value("user,project")
    Select(driver.find_element(By.CSS_SELECTOR, '#report-form [name="status"]')).select_by_value("all")
    driver.find_element(By.CSS_SELECTOR, '#report-form button[type="submit"]').click()
    rows = wait_for(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#report-rows tr td.num") and
                    driver.find_elements(By.CSS_SELECTOR, "#report-rows tr"), what="the report's rows")
    bars = wait_for(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#report-chart svg rect"), what="the bars")
    assert len(bars) == len(rows), "one bar per row"
    headings = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#report-head th")]
    assert headings == ["User", "Project", "Hours", "Entries"], headings

    # The table's total is the API's, and the sum of its rows (in hundredths, exactly).
    with urllib.request.urlopen(urllib.request.Request(
            f"{base}/reports/hours?from={start}&to={today.isoformat()}&status=all",
            headers={"Authorization": "Bearer " + cli_token(base, data_dir, "manager")})) as response:
        report = json.load(response)
    assert len(rows) == len(report["rows"])
    total_cell = driver.find_elements(By.CSS_SELECTOR, "#report-foot td.num")[0].text
    assert float(total_cell) == report["total_hours"]
    assert round(sum(r["hours"] for r in report["rows"]) * 100) == round(report["total_hours"] * 100)
    shot(driver, "reports-table-and-chart")

    # A bad range shows its error next to the field, and keeps what was chosen.
    set_value(driver, '#report-form [name="to"]', "2000-01-01")
    driver.find_element(By.CSS_SELECTOR, '#report-form button[type="submit"]').click()
    error = wait_for(driver, lambda: visible(driver, "#error-to"), what="the range error")
    assert "before" in error.text
    shot(driver, "reports-field-error")
    set_value(driver, '#report-form [name="to"]', today.isoformat())

    # Download the CSV: the server's file name, a header row, the same rows.
    driver.find_element(By.ID, "report-csv").click()
    expected = downloads / f"hours-{start}-{today.isoformat()}.csv"
    wait_for(driver, lambda: expected.exists() and expected.stat().st_size > 0, timeout=20, what="the CSV download")
    time.sleep(0.5)
    table = list(csv.reader(io.StringIO(expected.read_text(encoding="utf-8"), newline="")))
    assert table[0] == ["user_id", "project", "hours", "entries"]
    assert len(table) - 1 == len(report["rows"])
    assert [r[0] for r in table[1:]] == [r["user_id"] for r in report["rows"]]
    shot(driver, "reports-csv-downloaded")
    log_out(driver)


def test_the_client_renews_its_token_without_losing_what_was_typed(browser, short_token_server):
    from selenium.webdriver.common.by import By
    driver, (base, data_dir) = browser, short_token_server
    log_in(driver, base, "employee")
    first = session(driver)
    assert first["tokenType"] == "DPoP", "the web client's token is bound to its key"
    assert first["refreshToken"], f"the login asked for offline_access and got a refresh token: {first}"
    first_claims = claims(first["accessToken"])
    assert first_claims["exp"] - first_claims["iat"] == LIFETIME

    # Start typing an entry, then keep typing past the first token's expiry.
    # Tomorrow: above the seeded weeks, so the saved entry is on the first page of the list.
    day = (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)).isoformat()
    set_value(driver, '#entry-form [name="date"]', day)
    driver.find_element(By.CSS_SELECTOR, '#entry-form [name="project"]').send_keys("Renewal")
    driver.find_element(By.CSS_SELECTOR, '#entry-form [name="notes"]').send_keys("typed before the token expired")
    shot(driver, "renewal-typing")
    renewed = wait_for(driver, lambda: (s := session(driver)) and s["accessToken"] != first["accessToken"] and s,
                       timeout=LIFETIME + 10, what="the access token to be renewed")
    assert renewed["refreshToken"] != first["refreshToken"], "the refresh token rotated"
    assert renewed["tokenType"] == "DPoP" and "cnf" in claims(renewed["accessToken"]), "renewed bound to the same key"
    assert claims(renewed["accessToken"])["cnf"] == first_claims["cnf"]
    assert claims(renewed["accessToken"])["iat"] > first_claims["iat"]
    wait_for(driver, lambda: time.time() > first_claims["exp"] + 1, timeout=LIFETIME + 5,
             what="the first token to expire")
    driver.find_element(By.CSS_SELECTOR, '#entry-form [name="notes"]').send_keys(", and after")
    set_value(driver, '#entry-form [name="hours"]', "2.5")
    assert driver.find_element(By.CSS_SELECTOR, '#entry-form [name="project"]').get_attribute("value") == "Renewal"
    assert not visible(driver, "#banner"), "no 'session ended' banner"
    shot(driver, "renewal-after-expiry")

    # Saving works with the renewed token: the entry is stored with everything typed.
    driver.find_element(By.ID, "entry-submit").click()
    row = wait_for(driver, lambda: [r for r in driver.find_elements(By.CSS_SELECTOR, "#entries tr[data-id]")
                                    if "Renewal" in r.text], what="the saved entry")[0]
    assert day in row.text
    token = cli_token(base, data_dir, "employee")
    with urllib.request.urlopen(urllib.request.Request(
            f"{base}/timesheets?project=Renewal", headers={"Authorization": "Bearer " + token})) as response:
        items = json.load(response)["items"]
    assert [i["notes"] for i in items] == ["typed before the token expired, and after"]
    assert items[0]["hours"] == 2.5
    shot(driver, "renewal-saved")

    # The spent refresh token is refused now, and presenting it revoked the login's newer one too.
    token_endpoint = base + "/dev-idp/oauth/token"
    def refresh(refresh_token):
        body = urllib.parse.urlencode({"grant_type": "refresh_token", "client_id": "timesheets-web",
                                       "refresh_token": refresh_token}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(token_endpoint, data=body)) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
    current = session(driver)["refreshToken"]
    assert refresh(first["refreshToken"]) == 403
    assert refresh(current) == 403
    log_out(driver)
