//! Real-browser tests (issue 5): Debian's Chromium, headless, driven over the DevTools protocol
//! (chromiumoxide) against the real app on 127.0.0.1.
//!
//! Each test starts its own Chromium with a fresh profile, so cookies never leak between tests.
//! Where Chromium is missing the tests print why and pass as skipped, unless
//! `SANDBOX_PORTAL_BROWSER_TESTS=require` (set by `.ci/run`) turns the absence into a failure.
//! Every wait is for a condition in the page, bounded by a deadline: htmx swaps asynchronously.
mod a11y;
mod dialogs;
mod flows;
mod focus;
mod nojs;
mod ux;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::browser::{
    PermissionDescriptor, PermissionSetting, SetPermissionParams,
};
use chromiumoxide::cdp::browser_protocol::dom::ScrollIntoViewIfNeededParams;
use chromiumoxide::cdp::browser_protocol::emulation::{
    SetDeviceMetricsOverrideParams, SetFocusEmulationEnabledParams,
};
use chromiumoxide::cdp::browser_protocol::input::{DispatchKeyEventParams, DispatchKeyEventType};
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::{Page, ScreenshotParams};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::helpers::{PASSWORD, TestApp};

const REQUIRE_VAR: &str = "SANDBOX_PORTAL_BROWSER_TESTS";
const CHROMIUM_VAR: &str = "SANDBOX_PORTAL_CHROMIUM";
const AXE_VAR: &str = "AXE_CORE_JS";
const WAIT: Duration = Duration::from_secs(10);

/// The two viewports every page is looked at in.
pub const DESKTOP: (i64, i64) = (1280, 800);
pub const PHONE: (i64, i64) = (375, 812);

fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "require" || v == "1")
}

/// Skips (returns None) or, where browser tests are required, fails with the reason.
fn unavailable<T>(what: &str) -> Option<T> {
    assert!(!required(), "{what}, and {REQUIRE_VAR}=require");
    eprintln!("browser test SKIPPED: {what} (see README, \"Browser tests\")");
    None
}

fn chromium_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var(CHROMIUM_VAR) {
        return Some(PathBuf::from(p));
    }
    // The real binary: Debian's /usr/bin/chromium is a shell wrapper that starts slower.
    ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// axe-core's script, fetched by `scripts/browser-deps.sh` (never committed).
pub fn axe_source() -> Option<String> {
    let path = std::env::var_os(AXE_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("axe-core/axe.min.js"));
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(_) => unavailable(&format!(
            "axe-core not found at {} (run scripts/browser-deps.sh)",
            path.display()
        )),
    }
}

/// One headless Chromium with a fresh profile, and the page the test drives.
pub struct Chrome {
    browser: Browser,
    pub page: Page,
    pub base: String,
    _profile: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Chrome {
    /// A browser pointed at `app`, or None (skipped) where Chromium is not installed.
    pub async fn launch(app: &TestApp) -> Option<Chrome> {
        Self::launch_with(app, true).await
    }

    /// The same with scripting off, as for a visitor who disabled JavaScript.
    pub async fn launch_without_js(app: &TestApp) -> Option<Chrome> {
        Self::launch_with(app, false).await
    }

    async fn launch_with(app: &TestApp, javascript: bool) -> Option<Chrome> {
        let Some(exe) = chromium_path().filter(|p| p.exists()) else {
            return unavailable(&format!(
                "Chromium not found (apt-get install chromium, or set {CHROMIUM_VAR})"
            ));
        };
        let profile = std::env::temp_dir().join(format!(
            "sandbox-portal-chrome-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let profile = TempDir(profile);
        // Chromium must not outlive a test binary that is killed: the wrapper asks the kernel to
        // kill it when the thread that started it ends.
        let wrapper = profile.0.join("chromium.sh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec setpriv --pdeathsig KILL '{}' \"$@\"\n",
                exe.display()
            ),
        )
        .expect("wrapper");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o700))
                .expect("chmod wrapper");
        }
        let args = [
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ];
        if !javascript {
            // The browser's own setting ("Don't allow sites to use JavaScript"), as a person
            // would switch it off; DevTools evaluation, which the test reads pages with, still
            // works.
            let prefs = profile.0.join("data/Default");
            std::fs::create_dir_all(&prefs).expect("profile prefs dir");
            std::fs::write(
                prefs.join("Preferences"),
                r#"{"profile":{"default_content_setting_values":{"javascript":2}}}"#,
            )
            .expect("profile prefs");
        }
        let config = BrowserConfig::builder()
            .chrome_executable(&wrapper)
            .user_data_dir(profile.0.join("data"))
            .no_sandbox()
            .request_timeout(WAIT)
            .viewport(None)
            .window_size(DESKTOP.0 as u32, DESKTOP.1 as u32)
            .args(args)
            .build()
            .expect("browser config");
        let (browser, mut handler) = match Browser::launch(config).await {
            Ok(b) => b,
            Err(e) => {
                return unavailable(&format!("Chromium at {} did not start: {e}", exe.display()));
            }
        };
        actix_web::rt::spawn(async move { while handler.next().await.is_some() {} });
        let page = browser.new_page("about:blank").await.expect("new page");
        // Headless windows are never focused; the clipboard and :focus need a focused page.
        page.execute(SetFocusEmulationEnabledParams::new(true))
            .await
            .expect("focus emulation");
        for name in ["clipboard-read", "clipboard-write"] {
            let descriptor = PermissionDescriptor::new(name);
            let grant = SetPermissionParams::builder()
                .permission(descriptor)
                .setting(PermissionSetting::Granted)
                .origin(app.addr.clone())
                .build()
                .expect("permission params");
            browser.execute(grant).await.expect("grant clipboard");
        }
        let chrome = Chrome {
            browser,
            page,
            base: app.addr.clone(),
            _profile: profile,
        };
        chrome.viewport(DESKTOP).await;
        Some(chrome)
    }

    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
    }

    pub async fn viewport(&self, (w, h): (i64, i64)) {
        self.page
            .execute(SetDeviceMetricsOverrideParams::new(w, h, 1.0, w < 600))
            .await
            .expect("viewport");
    }

    pub async fn goto(&self, path: &str) {
        match self.page.goto(format!("{}{}", self.base, path)).await {
            Ok(_) => {}
            // An error page (4xx) is still a page: chromiumoxide reports its status as a failure.
            Err(e) if e.to_string().contains("ERR_HTTP_RESPONSE_CODE_FAILURE") => {
                self.wait_until(
                    "the error page to load",
                    &format!(
                        "document.readyState === 'complete' && location.pathname === {}",
                        js_str(path.split('?').next().unwrap_or(path))
                    ),
                )
                .await;
            }
            Err(e) => panic!("navigate to {path}: {e}"),
        }
    }

    /// Evaluates a JavaScript expression (works with page scripts disabled too: DevTools
    /// evaluation is not a page script).
    pub async fn eval<T: DeserializeOwned>(&self, js: &str) -> T {
        self.raw_eval(js)
            .await
            .unwrap_or_else(|e| panic!("evaluate {js}: {e}"))
            .into_value()
            .unwrap_or_else(|e| panic!("value of {js}: {e}"))
    }

    async fn raw_eval(
        &self,
        js: &str,
    ) -> chromiumoxide::error::Result<chromiumoxide::js::EvaluationResult> {
        let params = EvaluateParams::builder()
            .expression(js)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .expect("evaluate params");
        self.page.evaluate_expression(params).await
    }

    /// Waits until a JavaScript predicate holds, failing with `what` after the deadline.
    pub async fn wait_until(&self, what: &str, predicate: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            // During a navigation the old context is gone: an error only means "not yet".
            let ok = match self.raw_eval(predicate).await {
                Ok(v) => v.into_value::<bool>().unwrap_or(false),
                Err(_) => false,
            };
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} ({predicate}) on {}\n{}",
                self.url().await,
                self.body_text().await
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until htmx has finished swapping and settling. New content is wired up (hx-post
    /// and the like) only when it settles, about 20 ms after it appears: a control used before
    /// that would act as a plain link or form. A person cannot be that fast; the harness can.
    /// Without JavaScript the classes never appear and this returns at once.
    pub async fn wait_settled(&self) {
        self.wait_until(
            "htmx to settle",
            "document.querySelector('.htmx-added, .htmx-settling, .htmx-swapping, .htmx-request') === null",
        )
        .await;
    }

    pub async fn wait_for(&self, selector: &str) {
        self.wait_until(
            &format!("{selector} to appear"),
            &format!("document.querySelector({}) !== null", js_str(selector)),
        )
        .await;
    }

    pub async fn wait_gone(&self, selector: &str) {
        self.wait_until(
            &format!("{selector} to go"),
            &format!("document.querySelector({}) === null", js_str(selector)),
        )
        .await;
    }

    pub async fn exists(&self, selector: &str) -> bool {
        self.eval(&format!(
            "document.querySelector({}) !== null",
            js_str(selector)
        ))
        .await
    }

    /// Whether an element is there and can be seen (not hidden, not display:none).
    pub async fn visible(&self, selector: &str) -> bool {
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({}); return !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'; }})()",
            js_str(selector)
        ))
        .await
    }

    pub async fn text(&self, selector: &str) -> String {
        self.wait_for(selector).await;
        self.eval(&format!(
            "document.querySelector({}).textContent.trim()",
            js_str(selector)
        ))
        .await
    }

    pub async fn body_text(&self) -> String {
        self.raw_eval("document.body ? document.body.innerText : ''")
            .await
            .ok()
            .and_then(|v| v.into_value::<String>().ok())
            .unwrap_or_default()
    }

    pub async fn url(&self) -> String {
        self.page.url().await.ok().flatten().unwrap_or_default()
    }

    /// A real mouse click in the middle of the element.
    ///
    /// Scrolled into view by DevTools rather than chromiumoxide's `Element::click`, which waits
    /// on a page-script callback that never comes when JavaScript is off.
    pub async fn click(&self, selector: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.wait_for(selector).await;
            self.wait_settled().await;
            // An htmx swap can replace the element between finding it and clicking it (the
            // old node is then detached and has no box): find it again, until the deadline.
            let point = match self.page.find_element(selector).await {
                Ok(element) => {
                    let scrolled = self
                        .page
                        .execute(
                            ScrollIntoViewIfNeededParams::builder()
                                .backend_node_id(element.backend_node_id)
                                .build(),
                        )
                        .await;
                    match scrolled {
                        Ok(_) => element.clickable_point().await.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            match point {
                Ok(point) => {
                    self.page
                        .click(point)
                        .await
                        .unwrap_or_else(|e| panic!("click {selector}: {e}"));
                    return;
                }
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "{selector} could not be clicked: {e}"
                ),
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Clicks, then waits for the document that the click navigated to.
    pub async fn click_and_load(&self, selector: &str) {
        let marker = self.mark_document().await;
        self.click(selector).await;
        self.wait_new_document(marker).await;
    }

    /// Tags the current document so that a new one can be told from it.
    pub async fn mark_document(&self) -> String {
        let marker = uuid::Uuid::new_v4().simple().to_string();
        let _: bool = self
            .eval(&format!(
                "(document.documentElement.dataset.testMark = '{marker}', true)"
            ))
            .await;
        marker
    }

    pub async fn wait_new_document(&self, marker: String) {
        self.wait_until(
            "the next page to load",
            &format!(
                "document.readyState === 'complete' && document.documentElement.dataset.testMark !== '{marker}'"
            ),
        )
        .await;
    }

    /// Focuses a field and types into it with key events, replacing what was there.
    pub async fn fill(&self, selector: &str, value: &str) {
        self.wait_for(selector).await;
        self.wait_settled().await;
        let _: bool = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({}); e.focus(); e.select(); return true; }})()",
                js_str(selector)
            ))
            .await;
        self.press("Backspace").await;
        self.type_text(value).await;
    }

    pub async fn type_text(&self, text: &str) {
        for c in text.chars() {
            let s = c.to_string();
            self.key_event(DispatchKeyEventType::KeyDown, &s, "", 0, Some(&s), 0)
                .await;
            self.key_event(DispatchKeyEventType::KeyUp, &s, "", 0, None, 0)
                .await;
        }
    }

    /// Presses and releases a named key (Tab, Enter, Escape, Space, Backspace), as a keyboard
    /// user would: the browser decides what it does (move focus, activate, cancel).
    pub async fn press(&self, key: &str) {
        self.press_with(key, 0).await;
    }

    pub async fn shift_tab(&self) {
        self.press_with("Tab", 8).await;
    }

    async fn press_with(&self, key: &str, modifiers: i64) {
        self.wait_settled().await;
        let (code, vk, text) = match key {
            "Tab" => ("Tab", 9, None),
            "Enter" => ("Enter", 13, Some("\r")),
            "Escape" => ("Escape", 27, None),
            "Space" => ("Space", 32, Some(" ")),
            "Backspace" => ("Backspace", 8, None),
            other => panic!("no key definition for {other}"),
        };
        let name = if key == "Space" { " " } else { key };
        let down = if text.is_some() {
            DispatchKeyEventType::KeyDown
        } else {
            DispatchKeyEventType::RawKeyDown
        };
        self.key_event(down, name, code, vk, text, modifiers).await;
        self.key_event(DispatchKeyEventType::KeyUp, name, code, vk, None, modifiers)
            .await;
    }

    async fn key_event(
        &self,
        kind: DispatchKeyEventType,
        key: &str,
        code: &str,
        vk: i64,
        text: Option<&str>,
        modifiers: i64,
    ) {
        let mut b = DispatchKeyEventParams::builder()
            .r#type(kind)
            .key(key)
            .modifiers(modifiers);
        if !code.is_empty() {
            b = b
                .code(code)
                .windows_virtual_key_code(vk)
                .native_virtual_key_code(vk);
        }
        if let Some(t) = text {
            b = b.text(t).unmodified_text(t);
        }
        self.page
            .execute(b.build().expect("key event"))
            .await
            .unwrap_or_else(|e| panic!("key {key}: {e}"));
    }

    /// A short description of the focused element, to assert where keyboard focus is.
    pub async fn focused(&self) -> String {
        self.eval(
            "(() => { const e = document.activeElement; if (!e) return ''; \
             const label = e.labels && e.labels.length ? e.labels[0].textContent : ''; \
             return (e.getAttribute('aria-label') || label || e.textContent || e.id || e.tagName).trim(); })()",
        )
        .await
    }

    /// Tabs forward until the focused element's description is `label`, as a keyboard user
    /// would; fails if it is never reached.
    pub async fn tab_to(&self, label: &str) {
        for _ in 0..60 {
            self.press("Tab").await;
            if self.focused().await == label {
                return;
            }
        }
        panic!(
            "Tab never reached {label:?}; last focus {:?}",
            self.focused().await
        );
    }

    /// Logs in through the form, with real typing and a real click.
    pub async fn login(&self, username: &str) {
        self.goto("/login").await;
        self.fill("#username", username).await;
        self.fill("#password", PASSWORD).await;
        self.click_and_load("form[action='/login'] button[type=submit]")
            .await;
        assert!(
            !self.url().await.contains("/login"),
            "login of {username} failed: {}",
            self.body_text().await
        );
    }

    /// The page at both viewports, saved under target/screenshots/ for a person to look at.
    pub async fn screenshots(&self, name: &str) {
        let dir = target_dir().join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        for size in [DESKTOP, PHONE] {
            self.viewport(size).await;
            let png = self
                .page
                .screenshot(
                    ScreenshotParams::builder()
                        .format(CaptureScreenshotFormat::Png)
                        .build(),
                )
                .await
                .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
            let file = dir.join(format!("{name}-{}x{}.png", size.0, size.1));
            std::fs::write(&file, png).expect("write screenshot");
        }
        self.viewport(DESKTOP).await;
    }

    /// Fails if the page, or a table in it, has to be scrolled sideways at either viewport:
    /// controls past the edge are controls people miss.
    pub async fn assert_fits(&self, name: &str) {
        for size in [DESKTOP, PHONE] {
            self.viewport(size).await;
            let overflow: Vec<String> = self
                .eval(
                    "[document.documentElement, ...document.querySelectorAll('.table-wrap')] \
                     .filter(e => e.scrollWidth > e.clientWidth + 1) \
                     .map(e => `${e.className || e.tagName}: ${e.scrollWidth} > ${e.clientWidth}`)",
                )
                .await;
            assert!(
                overflow.is_empty(),
                "{name} at {}x{} overflows sideways: {overflow:?}",
                size.0,
                size.1
            );
        }
        self.viewport(DESKTOP).await;
    }

    /// Runs axe-core on the page at both viewports and fails on any serious or critical
    /// violation, listing each with the elements it found.
    pub async fn assert_accessible(&self, name: &str, axe: &str) {
        for size in [DESKTOP, PHONE] {
            self.viewport(size).await;
            if !self.eval::<bool>("typeof window.axe === 'object'").await {
                let _: bool = self.eval(&format!("{axe}\n;true")).await;
            }
            let loaded: bool = self.eval("typeof window.axe === 'object'").await;
            assert!(loaded, "axe-core did not load on {name}");
            let found: Vec<serde_json::Value> = self
                .eval(
                    "axe.run(document, { resultTypes: ['violations'] }).then(r => r.violations \
                     .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                     .map(v => ({ id: v.id, impact: v.impact, help: v.help, \
                                  nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) })))",
                )
                .await;
            assert!(
                found.is_empty(),
                "{name} at {}x{}: serious or critical accessibility violations:\n{}",
                size.0,
                size.1,
                serde_json::to_string_pretty(&found).unwrap_or_default()
            );
        }
        self.viewport(DESKTOP).await;
    }
}

/// A JavaScript string literal for `s`.
pub fn js_str(s: &str) -> String {
    serde_json::to_string(s).expect("string literal")
}

/// The app and a JS-enabled browser, or None where the test is skipped.
pub async fn app_and_chrome() -> Option<(TestApp, Chrome)> {
    let app = TestApp::spawn().await;
    let chrome = Chrome::launch(&app).await?;
    Some((app, chrome))
}

/// Logs `username` in with `role` on `org`, creating the user.
pub async fn login_new(
    app: &TestApp,
    chrome: &Chrome,
    username: &str,
    role: sandbox_portal::domain::role::Role,
    orgs: &[uuid::Uuid],
) {
    app.user(username, role, orgs);
    chrome.login(username).await;
}
