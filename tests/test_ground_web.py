"""The gateway's operator page in a real headless Chromium (Debian `chromium` +
`chromium-driver`, driven by Selenium; no browser download): live housekeeping with units
and limit colours from the dictionary, link state, event log, the command form generated
from the dictionary (enumerations, ranges, hazardous confirmation) sending through the
gateway, and the command history."""

import json
import os
import shutil
import tempfile

import pytest

from ground_tools.tmadapter import load_dictionary
from tests.gwutil import Served, free_port, wait_until
from tests.hil.simbench import SimBench
from tests.procutil import GUARD_S, ROOT
from flight.cmddict import MODES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="headless Chromium not installed: apt-get install chromium chromium-driver "
    "(make setup does it as root)")

# Three housekeeping values that exist before and after the packed-HK change, given
# limits here so that one shows each colour.
LIMITED = ("boot_count", "safe_entries", "key_id")


def _dictionary_with_limits():
    d = json.loads(json.dumps(load_dictionary()))
    tel = d.setdefault("telemetry", {})
    hk = tel.get("hk") if isinstance(tel.get("hk"), dict) else None
    if hk is None:
        hk = tel["hk"] = {"apid": 161, "fields": []}
    fields = {f["name"]: f for f in hk.setdefault("fields", [])}
    names = [n for n in LIMITED if n in fields] or [n for n in LIMITED]
    for n in names:
        if n not in fields:
            fields[n] = {"name": n, "type": "u32", "unit": "", "scale": 1, "offset": 0,
                         "warn": None, "alarm": None, "enum": None, "description": ""}
            hk["fields"].append(fields[n])
    fields[names[0]].update(alarm=[1e29, 1e30], unit="boots")  # any value: alarm
    fields[names[1]].update(warn=[1e29, 1e30], alarm=None)  # any value: warning
    fields[names[2]].update(warn=[-1e30, 1e30], alarm=[-1e31, 1e31])  # in limits
    return d, names


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    tmp = tmp_path_factory.mktemp("web")
    env = dict(os.environ, VECTOR_TC_STATE=str(tmp / "counters.json"), PYTHONPATH=str(ROOT))
    env.pop("VECTOR_TC_GATEWAY", None)
    env.pop("VECTOR_TC_GATEWAY_STATE", None)
    d, names = _dictionary_with_limits()
    (tmp / "dict.json").write_text(json.dumps(d))
    bench = SimBench(str(tmp / "state"), speed=5.0)
    served = driver = None
    profile = tempfile.mkdtemp(prefix="vector-chromium-")
    try:
        served = Served(bench.port, tmp / "a.db", env, free_port(),
                        extra=["--dict", str(tmp / "dict.json")])
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--user-data-dir=%s" % profile, "--window-size=1400,1000"):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
        driver.set_page_load_timeout(60)
        driver.get(served.url + "/")
        yield {"driver": driver, "served": served, "names": names, "tmp": tmp}
    finally:
        if driver is not None:
            driver.quit()
        if served is not None:
            served.stop()
        bench.close()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, pred, timeout=GUARD_S):
    from selenium.common.exceptions import StaleElementReferenceException

    def safe():
        try:
            return pred(driver)
        except StaleElementReferenceException:
            return None

    v = wait_until(safe, timeout, 0.1)
    assert v, "page condition not met within %g s" % timeout
    return v


def _row(driver, name):
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, '#hk tr[data-field="%s"]' % name)
    return rows[0] if rows else None


def test_live_housekeeping_with_units_and_limit_colours(page):
    from selenium.webdriver.common.by import By

    drv, names = page["driver"], page["names"]
    _wait(drv, lambda d: _row(d, names[0]))
    # the table is redrawn at every packet: read it in one script run (no stale elements)
    rows = drv.execute_script(
        "const o = {}; for (const tr of document.querySelectorAll('#hk tr[data-field]'))"
        " o[tr.dataset.field] = [tr.className, tr.textContent]; return o;")
    assert [rows[n][0] for n in names] == ["alarm", "warn", "ok"]
    assert "boots" in rows[names[0]][1]
    assert "mode" in rows
    assert "mode" in drv.find_element(By.ID, "mode").text
    link = drv.find_element(By.ID, "link")
    assert "up" in link.get_attribute("class") and "link up" in link.text
    first = drv.find_element(By.ID, "link-stats").text
    _wait(drv, lambda d: d.find_element(By.ID, "link-stats").text != first)  # live
    colour = drv.execute_script(
        "return getComputedStyle(document.querySelector('#hk tr.alarm td.v')).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent")


def _choose(drv, name):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(drv.find_element(By.ID, "cmd-name")).select_by_value(name)
    return drv.find_element(By.ID, "cmd-args")


def test_command_form_from_the_dictionary(page):
    from selenium.webdriver.common.by import By

    drv = page["driver"]
    args = _choose(drv, "SET_MODE")
    opts = [o.text for o in args.find_elements(By.CSS_SELECTOR, "select[name=mode] option")]
    assert opts == list(MODES)
    args = _choose(drv, "APT_SET_GAINS")
    kp = args.find_element(By.CSS_SELECTOR, "input[name=kp]")
    assert (kp.get_attribute("type"), kp.get_attribute("min"), kp.get_attribute("max")) == (
        "number", "0", "2")
    assert "1/s" in args.text  # ki's unit
    assert not drv.find_element(By.ID, "confirm-row").is_displayed()
    _choose(drv, "REBOOT")
    assert drv.find_element(By.ID, "confirm-row").is_displayed()


def test_send_through_the_gateway_shows_verification_and_history(page):
    from selenium.webdriver.common.by import By

    drv = page["driver"]
    args = _choose(drv, "PARAM_GET")
    args.find_element(By.CSS_SELECTOR, "input[name=name]").send_keys("temp_max_c")
    drv.find_element(By.ID, "cmd-send").click()
    res = _wait(drv, lambda d: "completed" in d.find_element(By.ID, "cmd-result").text
                and d.find_element(By.ID, "cmd-result"))
    assert "PARAM_GET" in res.text and "value" in res.text
    row = drv.find_element(By.CSS_SELECTOR, "#history tbody tr")
    assert "PARAM_GET" in row.text and "completed" in row.text and "web" in row.text
    # a command the payload refuses: the reason is shown
    _choose(drv, "SESSION_END")  # not allowed in SAFE: the payload rejects it
    drv.find_element(By.ID, "cmd-send").click()
    res = _wait(drv, lambda d: "rejected" in d.find_element(By.ID, "cmd-result").text
                and d.find_element(By.ID, "cmd-result"))
    assert "bad" in res.get_attribute("class") and "WRONG_MODE" in res.text
    row = drv.find_element(By.CSS_SELECTOR, "#history tbody tr")
    assert "SESSION_END" in row.text and "rejected" in row.text
    # the event-log dump: its events appear in the event log
    _choose(drv, "EVENT_LOG_DUMP")
    drv.find_element(By.ID, "cmd-send").click()
    _wait(drv, lambda d: "completed" in d.find_element(By.ID, "cmd-result").text)
    _wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "#events .event"))


def test_hazardous_command_needs_confirmation_and_bad_values_are_refused(page):
    from selenium.webdriver.common.by import By

    drv = page["driver"]
    n_hist = len(drv.find_elements(By.CSS_SELECTOR, "#history tbody tr"))
    _choose(drv, "REBOOT")
    drv.find_element(By.ID, "cmd-send").click()
    res = _wait(drv, lambda d: "hazardous" in d.find_element(By.ID, "cmd-result").text
                and d.find_element(By.ID, "cmd-result"))
    assert "confirm" in res.text
    args = _choose(drv, "BIAS_SET_OVERVOLTAGE")
    inp = args.find_element(By.CSS_SELECTOR, "input[name=volts]")
    drv.execute_script("arguments[0].removeAttribute('max')", inp)  # past the browser check
    inp.send_keys("9")
    drv.find_element(By.ID, "cmd-send").click()
    res = _wait(drv, lambda d: "above the maximum" in d.find_element(By.ID, "cmd-result").text
                and d.find_element(By.ID, "cmd-result"))
    assert "volts" in res.text
    args = _choose(drv, "PARAM_GET")  # an unknown parameter: refused by the gateway
    args.find_element(By.CSS_SELECTOR, "input[name=name]").send_keys("temp_maxc")
    drv.find_element(By.ID, "cmd-send").click()
    _wait(drv, lambda d: "unknown parameter" in d.find_element(By.ID, "cmd-result").text)
    # none reached the payload
    assert len(drv.find_elements(By.CSS_SELECTOR, "#history tbody tr")) == n_hist


def test_a_token_gateways_page_signs_in_once_and_a_foreign_page_cannot_command(page):
    """The page of a gateway with a token (ground_tools/webguard.py): opened once with
    /?token=, its live stream and commands go on the cookie alone; the first gateway's
    page (another origin) cannot command it, with or without the token's cookie."""
    from selenium.webdriver.common.by import By

    from ground_tools import webguard

    drv, tmp = page["driver"], page["tmp"]
    token = "web-token-0123456789abcdef"
    (tmp / "token").write_text(token + "\n")
    env = dict(page["served"].env, VECTOR_TC_GATEWAY_STATE=str(tmp / "gw2.json"))
    bench = SimBench(str(tmp / "state2"), speed=5.0)
    served = None
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(webguard.TOKEN_ENV, str(tmp / "token"))  # the readiness check's
            served = Served(bench.port, tmp / "b.db", env, free_port(),
                            extra=["--token-file", str(tmp / "token")])
        drv.get(served.url + "/")  # without the token: refused, nothing live
        assert "needs its token" in drv.find_element(By.TAG_NAME, "body").text
        drv.get(served.url + "/?token=" + token)
        assert drv.current_url.rstrip("/") == served.url  # the token left the address
        _wait(drv, lambda d: _row(d, "mode"))  # the stream, on the cookie
        send = ("const r = await fetch(arguments[0] + '/api/command', {method: 'POST', "
                "headers: {'Content-Type': 'application/json'}, body: JSON.stringify("
                "{name: 'PING', args: {}})}).catch(e => null); return r ? r.status : 0;")
        assert drv.execute_script("return (async () => {%s})();" % send, served.url) == 200
        # The first gateway's page, another origin: its request never reaches a route
        drv.get(page["served"].url + "/")
        _wait(drv, lambda d: _row(d, "mode"))
        before = json.loads(_get_status(served, token))["link"]["tcs_out"]
        drv.execute_script("return (async () => {%s})();" % send, served.url)
        assert json.loads(_get_status(served, token))["link"]["tcs_out"] == before
    finally:
        if served is not None:
            served.stop()
        bench.close()


def _get_status(served, token):
    import urllib.request

    r = urllib.request.Request(served.url + "/api/status",
                               headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(r, timeout=GUARD_S) as resp:
        return resp.read().decode()
