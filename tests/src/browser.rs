//! A real headless Chromium, driven over WebDriver: `chromedriver` (Debian's
//! `chromium-driver`, installed by `infra/local/tools.sh`) on a free loopback
//! port, one browser per test, screenshots under the test's output folder.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::chain::free_port;

/// How long the page may take to reach a state before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// WebDriver keys (the WebDriver spec's code points).
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    driver: Child,
    shots: PathBuf,
}

/// Why there is no browser: `COG_SKIP_BROWSER=1` was set explicitly.
/// Missing software is not a reason: the test fails, saying so in one line.
pub fn skipped(test: &str) -> bool {
    let skip = std::env::var("COG_SKIP_BROWSER").is_ok_and(|v| v == "1");
    if skip {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{test}: skipped, COG_SKIP_BROWSER=1");
        }
    }
    skip
}

/// chromedriver from `PATH` (as `tools.sh` finds it), else Debian's places.
fn chromedriver() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("chromedriver"));
    on_path
        .chain(
            ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
                .into_iter()
                .map(PathBuf::from),
        )
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no chromedriver: install Debian's chromium and chromium-driver \
                 (infra/local/tools.sh does, as root), or set COG_SKIP_BROWSER=1 to skip the browser tests"
            )
        })
}

impl Browser {
    /// A headless browser `width` × `height` CSS pixels; screenshots go to
    /// `shots`. Widths under 500 emulate a phone (Chrome's windows are wider).
    pub async fn start(shots: PathBuf, width: u32, height: u32) -> Self {
        std::fs::create_dir_all(&shots).unwrap();
        let port = free_port();
        let log = std::fs::File::create(shots.join("chromedriver.log")).unwrap();
        let mut command = Command::new(chromedriver());
        command
            .arg(format!("--port={port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null());
        // Its own process group: a failed test still takes Chromium down with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().unwrap();
        let mut args = vec![
            "--headless=new".to_owned(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            format!("--window-size={width},{height}"),
        ];
        // Root (CI containers) cannot use Chromium's sandbox.
        if is_root() {
            args.push("--no-sandbox".into());
        }
        let mut options = json!({ "args": args });
        if width < 500 {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1}});
        }
        let capabilities = json!({ "goog:chromeOptions": options });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PATIENCE;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("no browser session from chromedriver: {error}"),
            }
        };
        Self {
            client,
            driver,
            shots,
        }
    }

    pub async fn goto(&self, url: &str) {
        answered(url, self.client.goto(url)).await;
    }

    /// The element `css` names, once it is there and shown.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found = answered(css, async {
                match self.client.find(Locator::Css(css)).await {
                    Ok(element) => match element.is_displayed().await {
                        Ok(true) => Ok(Some(element)),
                        _ => Ok(None),
                    },
                    Err(_) => Ok::<_, fantoccini::error::CmdError>(None),
                }
            })
            .await;
            if let Some(element) = found {
                return element;
            }
            assert!(Instant::now() < deadline, "no visible {css}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every element `css` names now.
    pub async fn all(&self, css: &str) -> Vec<Element> {
        answered(css, self.client.find_all(Locator::Css(css))).await
    }

    /// Clicks the element `css` names.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        answered(css, element.click()).await;
    }

    /// Types `text` into the element `css` names.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        answered(css, element.send_keys(text)).await;
    }

    /// Chooses the option `value` of the select `css` names.
    pub async fn select(&self, css: &str, value: &str) {
        let element = self.find(css).await;
        answered(css, element.select_by_value(value)).await;
    }

    /// The `value` of the element `css` names.
    pub async fn value(&self, css: &str) -> String {
        let element = self.find(css).await;
        answered(css, element.prop("value"))
            .await
            .unwrap_or_default()
    }

    /// The text of the element `css` names.
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        answered(css, element.text()).await
    }

    /// The page's HTML as it is now.
    pub async fn source(&self) -> String {
        answered("source", self.client.source()).await
    }

    pub async fn reload(&self) {
        answered("reload", self.client.refresh()).await;
        self.until("document.body.dataset.ready === 'true'").await;
    }

    /// Runs `script` (a function body) in the page.
    pub async fn run(&self, script: &str) -> Value {
        answered(script, self.client.execute(script, vec![])).await
    }

    /// Waits until `expression` is true in the page.
    pub async fn until(&self, expression: &str) {
        let deadline = Instant::now() + PATIENCE;
        let script = format!("return Boolean({expression});");
        while self.run(&script).await != Value::Bool(true) {
            assert!(Instant::now() < deadline, "never true: {expression}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs in on the local gateway's dev form, which opens the settings page.
    pub async fn sign_in(&self, gateway: &str, user: &str) {
        self.goto(&format!("{gateway}/_dev/sign-in")).await;
        let input = self.find("#sub").await;
        answered("clear", input.clear()).await;
        answered("sign in", input.send_keys(&format!("{user}{ENTER}"))).await;
        self.until("document.body.dataset.ready === 'true'").await;
    }

    /// Where the element with focus is: its `name`, else its `id`, else its text.
    pub async fn focused(&self) -> String {
        let script = "const e = document.activeElement; return e.name || e.id || e.textContent;";
        self.run(script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Presses `keys` on whatever has focus.
    pub async fn press(&self, keys: &str) {
        let element = answered("focus", self.client.active_element()).await;
        answered(keys, element.send_keys(keys)).await;
    }

    /// Writes a PNG of the viewport as `<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = answered(name, self.client.screenshot()).await;
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// A WebDriver command's answer; a browser that stops answering fails the
/// test instead of hanging it.
async fn answered<T, E: std::fmt::Debug>(
    what: &str,
    command: impl std::future::Future<Output = Result<T, E>>,
) -> T {
    match tokio::time::timeout(PATIENCE, command).await {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => panic!("webdriver, {what}: {error:?}"),
        Err(_) => panic!("webdriver, {what}: no answer in {PATIENCE:?}"),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium it started.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}
