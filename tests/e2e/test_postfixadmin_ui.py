"""Issue 4: PostfixAdmin's UI and the webmail in a real browser. Headless Chromium logs into PostfixAdmin as
the superadmin made from settings (no setup link, a footer link to the webmail), creates a domain with its
default aliases (mail to each reaches a mailbox here) and a mailbox; mail to that mailbox arrives and
Roundcube shows it (screenshots listed in a failing test's report).

One host ("web-ui", with the web tier's settings of lab.web) deployed once for the module (conftest's web_*
fixtures).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.mail import DEPLOY_ENV, PASSWORD_ENV, Server, fetch, message, smtp
from lab.web import DEFAULT_ALIASES_TO, PFA_NAME, SUPERADMIN, SUPERADMIN_PASSWORD, WEBMAIL_NAME, get

WEB_HOST = "web-ui"  # conftest's web_host fixture creates and deploys it


# --- in a browser: PostfixAdmin creates a mailbox, mail arrives, the webmail shows it -----------------
# Debian's chromium and chromium-driver, headless, driven by Selenium. The host's names resolve to its
# address through --host-resolver-rules and every other name to nothing, so the browser reaches no other
# host. It is told to ignore certificate errors: the certificate of each name is verified separately, with
# Python's ssl against the host's CA (test_certificate_names_each_host_and_verifies).

UI_DOMAIN = "browser.test"
UI_MAILBOX = f"dana@{UI_DOMAIN}"
UI_PASSWORD = "Browser-Horse-42-lamp"


class Browser:
    """One headless Chromium; every step leaves a screenshot under the module's tmp dir."""

    def __init__(self, address: str, directory: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.shots: list[Path] = []
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        rules = ", ".join(f"MAP {n} {address}" for n in (PFA_NAME, WEBMAIL_NAME))
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--ignore-certificate-errors",
            "--window-size=1280,900",
            f"--user-data-dir={directory / 'profile'}",
            f"--host-resolver-rules={rules}, MAP * ~NOTFOUND",
        ):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        self.driver.set_page_load_timeout(60)

    def shot(self, name: str) -> Path:
        path = self.directory / f"{len(self.shots):02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        return path

    def open(self, url: str, step: str) -> None:
        self.driver.get(url)
        self.shot(step)

    def fill(self, fields: dict[str, str]) -> None:
        from selenium.webdriver.common.by import By

        for name, value in fields.items():
            element = self.driver.find_element(By.NAME, name)
            element.clear()
            element.send_keys(value)

    def tick(self, name: str) -> None:
        from selenium.webdriver.common.by import By

        box = self.driver.find_element(By.NAME, name)
        if not box.is_selected():
            box.click()

    def displayed(self, css: str) -> list[bool]:
        """Whether each element CSS selects is shown on the page."""
        from selenium.webdriver.common.by import By

        return [e.is_displayed() for e in self.driver.find_elements(By.CSS_SELECTOR, css)]

    def submit(self, css: str, step: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, css).click()
        self.shot(step)

    def wait_for_text(self, text: str, step: str, timeout: float = 30) -> bool:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            WebDriverWait(self.driver, timeout).until(lambda d: text in d.find_element("tag name", "body").text)
            return True
        except TimeoutException:
            return False
        finally:
            self.shot(step)

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture(scope="module")
def browser(web_server: Server, module_tmp: Path) -> Iterator[Browser]:
    chrome = Browser(web_server.address, module_tmp / "browser")
    yield chrome
    chrome.quit()


@pytest.fixture(autouse=True)
def _screenshots_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """Attach the browser's screenshots to a failing test's report (conftest's makereport hook lists them)."""
    if "browser" in request.fixturenames:
        chrome: Browser = request.getfixturevalue("browser")
        request.node.screenshots = chrome.shots  # filled as the test runs
    yield


@pytest.fixture(scope="module")
def admin_logged_in(browser: Browser) -> bool:
    browser.open(f"https://{PFA_NAME}/login.php", "postfixadmin-login")
    browser.fill({"fUsername": SUPERADMIN, "fPassword": SUPERADMIN_PASSWORD})
    browser.submit("button[name=submit]", "postfixadmin-logged-in")
    return browser.wait_for_text("Admin List", "postfixadmin-main")


@pytest.fixture(scope="module")
def ui_mailbox(browser: Browser, admin_logged_in: bool) -> str:
    assert admin_logged_in, f"the superadmin could not log in; screenshots: {browser.shots}"
    browser.open(f"https://{PFA_NAME}/edit.php?table=domain", "new-domain-form")
    browser.fill({"value[domain]": UI_DOMAIN, "value[description]": "made in the browser"})
    browser.tick("value[default_aliases]")
    browser.submit("input[name=submit]", "domain-added")
    browser.open(f"https://{PFA_NAME}/edit.php?table=mailbox&domain={UI_DOMAIN}", "new-mailbox-form")
    browser.fill({
        "value[local_part]": UI_MAILBOX.split("@")[0],
        "value[password]": UI_PASSWORD,
        "value[password2]": UI_PASSWORD,
        "value[name]": "Dana Browser",
        "value[quota]": "10",
    })  # fmt: skip
    browser.submit("input[name=submit]", "mailbox-added")
    return UI_MAILBOX


def test_superadmin_logs_into_postfixadmin(admin_logged_in: bool) -> None:
    assert admin_logged_in


def test_postfixadmin_ui_creates_the_domain_and_mailbox(web, ui_mailbox: str) -> None:
    query = f"SELECT COUNT(*) FROM postfixadmin.mailbox WHERE username='{ui_mailbox}' AND active=1"
    assert web.check_output(f'mysql -N -e "{query}"') == "1"


def test_postfixadmin_ui_adds_default_aliases_to_this_servers_addresses(web, ui_mailbox: str) -> None:
    query = f"SELECT address, goto FROM postfixadmin.alias WHERE domain='{UI_DOMAIN}' AND address<>goto"
    rows = dict(line.split("\t") for line in web.check_output(f'mysql -N -e "{query}"').splitlines())
    postmaster = f"postmaster@{UI_DOMAIN}"
    assert {k: v for k, v in rows.items() if k != ui_mailbox} == {
        f"abuse@{UI_DOMAIN}": postmaster,
        f"hostmaster@{UI_DOMAIN}": postmaster,
        f"webmaster@{UI_DOMAIN}": postmaster,
        postmaster: DEFAULT_ALIASES_TO,
    }


@pytest.mark.parametrize("local_part", ["abuse", "hostmaster", "postmaster", "webmaster"])
def test_mail_to_a_default_alias_reaches_a_mailbox_here(web_server: Server, ui_mailbox: str, local_part: str) -> None:
    msg = message("sender@remote.test", f"{local_part}@{UI_DOMAIN}")
    with smtp(web_server) as client:
        client.send_message(msg)
    assert fetch(web_server, DEFAULT_ALIASES_TO, DEPLOY_ENV[PASSWORD_ENV], str(msg["Subject"])) is not None


def test_postfixadmin_menu_hides_the_denied_setup_link(browser: Browser, admin_logged_in: bool) -> None:
    assert admin_logged_in, f"the superadmin could not log in; screenshots: {browser.shots}"
    browser.open(f"https://{PFA_NAME}/main.php", "postfixadmin-menu")
    # Upstream's menu always has the link (templates/menu.tpl); the site CSS hides it.
    assert browser.displayed('a[href="setup.php"]') == [False]


def test_postfixadmin_footer_links_the_webmail(web_server: Server) -> None:
    body = get(web_server, PFA_NAME, "/login.php").body
    assert (f'href="https://{WEBMAIL_NAME}/"' in body, "change-this-to-your.domain.tld" in body) == (True, False)


def test_postfixadmin_sends_its_mail_from_an_address_here(web) -> None:
    php = "require '/usr/share/postfixadmin/config.inc.php'; echo $CONF['admin_email'];"
    assert web.check_output(f"cd /usr/share/postfixadmin && php -r {shlex.quote(php)}") == DEFAULT_ALIASES_TO


@pytest.fixture(scope="module")
def ui_message(web_server: Server, ui_mailbox: str) -> str:
    msg = message("sender@remote.test", ui_mailbox)
    with smtp(web_server) as client:
        client.send_message(msg)
    return str(msg["Subject"])


def test_mail_to_the_mailbox_made_in_the_ui_arrives(web_server: Server, ui_mailbox: str, ui_message: str) -> None:
    assert fetch(web_server, ui_mailbox, UI_PASSWORD, ui_message) is not None


def test_webmail_shows_the_message(browser: Browser, web_server: Server, ui_mailbox: str, ui_message: str) -> None:
    fetch(web_server, ui_mailbox, UI_PASSWORD, ui_message)  # delivered before the browser looks
    browser.open(f"https://{WEBMAIL_NAME}/", "webmail-login")
    browser.fill({"_user": ui_mailbox, "_pass": UI_PASSWORD})
    browser.submit("#rcmloginsubmit", "webmail-logged-in")
    assert browser.wait_for_text(ui_message, "webmail-inbox"), f"subject not on screen; screenshots: {browser.shots}"
