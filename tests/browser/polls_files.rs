//! Polls and files on a stream's page (issue 17, item 3): two people on one page, one asks
//! in the page and the other votes, the bars move live on both without a reload, closing
//! leaves the results only; an image attached through the page's file input shows in both
//! with a preview that loads and a download of the same bytes; an uploaded HTML or SVG file
//! is never run in the page's origin, opened as a download or "inline".
use fantoccini::Locator;
use serde_json::{json, Value};

use crate::*;

const SECRET: &str = "browser-polls-secret-0123";

/// A server with user tokens, a public channel of alice's that bob joined.
struct Room {
    app: TestApp,
    alice: String,
    bob: String,
    carol: String,
    stream: i64,
}

async fn room(settings: ServerSettings) -> Room {
    let app = settings.token_secret(SECRET).start().await;
    let (alice, bob, carol) = (
        user_token(SECRET, "alice", false),
        user_token(SECRET, "bob", false),
        user_token(SECRET, "carol", false),
    );
    let r = app
        .request(
            "POST",
            "/api/streams",
            Some(&alice),
            Some(&json!({"kind": "channel", "name": "release", "visibility": "public"})),
        )
        .await;
    assert_eq!(r.status, 201, "{r}");
    let stream = r.json["id"].as_i64().unwrap();
    let r = app
        .request("POST", &format!("/api/streams/{stream}/join"), Some(&bob), None)
        .await;
    assert!((200..300).contains(&r.status), "{r}");
    Room {
        app,
        alice,
        bob,
        carol,
        stream,
    }
}

impl Room {
    fn page(&self) -> String {
        format!("/streams/{}", self.stream)
    }

    /// An upload through the API: the file's event.
    async fn upload(&self, token: &str, name: &str, kind: &str, body: Vec<u8>) -> Value {
        let r = self
            .app
            .post_to(
                &format!("/api/streams/{}/files?name={}", self.stream, enc(name)),
                body,
                kind,
                &[("Authorization", &format!("Bearer {token}"))],
            )
            .await;
        assert_eq!(r.status, 201, "upload {name}: {r}");
        r.json
    }
}

async fn type_into(b: &Browser, selector: &str, text: &str) {
    b.client
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("find {selector}: {e}"))
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {selector}: {e}"));
}

/// A poll row as a person reads it: for each option its label, count and share, the bar's
/// width, whether it is marked as the reader's vote and whether its choice is shown; then the
/// voters, the state, and which of the vote and close buttons show.
async fn poll_seen(b: &Browser, poll: i64) -> Value {
    b.js(&format!(
        r#"const li = document.getElementById('e{poll}');
        if (!li || !li.querySelector('[data-poll]')) return null;
        const shown = (e) => !!e && e.getClientRects().length > 0;
        return {{
          question: li.querySelector('.poll-q').textContent,
          options: Array.from(li.querySelectorAll('.poll-option'), (o) => [
            o.querySelector('.poll-label').textContent,
            o.querySelector('[data-poll-count]').textContent,
            o.querySelector('[data-poll-share]').textContent,
            o.querySelector('[data-poll-bar]').getAttribute('width'),
            shown(o.querySelector('[data-poll-mine]')),
            shown(o.querySelector('input')) && !o.querySelector('input').disabled,
          ]),
          voters: li.querySelector('[data-poll-voters]').textContent,
          state: li.querySelector('[data-poll-state]').textContent,
          vote: shown(li.querySelector('[data-poll-vote]')) ? li.querySelector('[data-poll-vote]').textContent : null,
          close: shown(li.querySelector('[data-poll-close]')),
          closed: li.classList.contains('is-closed'),
        }};"#
    ))
    .await
}

/// Waits until `f` holds of the poll as `b` shows it; says what it showed last otherwise.
async fn wait_poll(b: &Browser, who: &str, poll: i64, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PAGE_WAIT;
    loop {
        let seen = poll_seen(b, poll).await;
        if f(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{who}'s page: timed out waiting for {what}; it shows {seen:#}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (count, share) of each option as shown.
fn figures(seen: &Value) -> Vec<(String, String)> {
    seen["options"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| (o[1].as_str().unwrap().to_owned(), o[2].as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn figures_are(seen: &Value, want: &[(&str, &str)]) -> bool {
    figures(seen)
        == want
            .iter()
            .map(|(c, s)| (c.to_string(), s.to_string()))
            .collect::<Vec<_>>()
}

/// "We are both on the release channel: I ask 'Roll back now?', my colleague votes, and I
/// watch the bars move without reloading; when I close it we both see the result only."
#[actix_rt::test]
async fn a_poll_asked_in_the_page_is_voted_on_by_another_and_its_bars_move_live_until_it_is_closed() {
    let t = room(TestApp::builder()).await;
    let (a, b) = (Browser::start().await, Browser::start().await);
    sign_in(&a, &t.app, &t.alice).await;
    sign_in(&b, &t.app, &t.bob).await;
    open_live(&a, &t.app, &t.page()).await;
    open_live(&b, &t.app, &t.page()).await;

    // Alice asks in her page: a question, two options and a third added in place.
    click(&a, "[data-poll-new]").await;
    type_into(&a, "[data-poll-form] input[name=\"question\"]", "Roll back now?").await;
    type_into(&a, "[data-poll-form-options] li:nth-child(1) input", "Yes").await;
    type_into(&a, "[data-poll-form-options] li:nth-child(2) input", "No").await;
    click(&a, "[data-option-add]").await;
    type_into(&a, "[data-poll-form-options] li:nth-child(3) input", "Wait for metrics").await;
    click(&a, "[data-poll-form] button[type=\"submit\"]").await;

    let poll = a
        .wait("alice's poll on her page", PAGE_WAIT, || async {
            a.js("const li = document.querySelector('.ev-poll'); return li ? Number(li.dataset.id) : null")
                .await
                .as_i64()
        })
        .await;
    let events = t.app.get_json(&format!("/api/streams/{}/events", t.stream)).await;
    let stored = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_id"] == json!(poll))
        .unwrap_or_else(|| panic!("the page's poll was stored: {events:#}"));
    assert_eq!(stored["event_type"], json!("poll"));
    assert_eq!(stored["actor"], json!("alice"));
    assert_eq!(stored["poll"]["question"], json!("Roll back now?"));
    assert_eq!(stored["poll"]["options"], json!(["Yes", "No", "Wait for metrics"]));
    assert_eq!(stored["poll"]["multiple"], json!(false));
    a.wait("the form to close once the poll is posted", PAGE_WAIT, || async {
        (a.js("return document.querySelector('[data-poll-form]').hidden").await == json!(true)).then_some(())
    })
    .await;

    // Both pages show it, live, with nobody's vote yet; each may vote, only alice may close.
    let zero = [("0", "0%"), ("0", "0%"), ("0", "0%")];
    let seen = wait_poll(&b, "bob", poll, "the new poll", |s| !s.is_null()).await;
    assert_eq!(seen["question"], json!("Roll back now?"));
    assert!(figures_are(&seen, &zero), "{seen:#}");
    assert_eq!(seen["voters"], json!("No votes yet"));
    assert_eq!(seen["state"], json!("Open"));
    assert_eq!(seen["vote"], json!("Vote"));
    assert_eq!(
        seen["close"],
        json!(false),
        "bob did not ask it: no close button for him"
    );
    assert!(
        seen["options"].as_array().unwrap().iter().all(|o| o[5] == json!(true)),
        "{seen:#}"
    );
    let seen = wait_poll(&a, "alice", poll, "her poll", |s| !s.is_null()).await;
    assert_eq!(seen["close"], json!(true), "alice may close her poll");

    // Bob votes "Yes" in his page: his choice is marked, and alice's bars move.
    click(&b, &format!("#e{poll} .poll-option[data-index=\"0\"] input")).await;
    click(&b, &format!("#e{poll} [data-poll-vote]")).await;
    let seen = wait_poll(&b, "bob", poll, "his vote marked", |s| {
        s["vote"] == json!("Change vote")
    })
    .await;
    assert_eq!(seen["options"][0][4], json!(true), "“your vote” on Yes: {seen:#}");
    assert_eq!(seen["options"][1][4], json!(false));
    let seen = wait_poll(&a, "alice", poll, "bob's vote", |s| {
        figures_are(s, &[("1", "100%"), ("0", "0%"), ("0", "0%")])
    })
    .await;
    assert_eq!(seen["voters"], json!("1 voter"));
    assert_eq!(seen["options"][0][3], json!("100%"), "the bar is as wide as the share");
    assert_eq!(seen["options"][0][4], json!(false), "it is not alice's vote");

    // Carol votes "No" elsewhere; then bob changes his vote to "Wait for metrics".
    let r = t
        .app
        .request(
            "POST",
            &format!("/api/streams/{}/polls/{poll}/vote", t.stream),
            Some(&t.carol),
            Some(&json!({"options": [1]})),
        )
        .await;
    assert_eq!(r.status, 200, "{r}");
    let half = [("1", "50%"), ("1", "50%"), ("0", "0%")];
    for (who, page) in [("alice", &a), ("bob", &b)] {
        let seen = wait_poll(page, who, poll, "carol's vote", |s| figures_are(s, &half)).await;
        assert_eq!(seen["voters"], json!("2 voters"));
        assert_eq!(seen["options"][1][3], json!("50%"));
    }
    click(&b, &format!("#e{poll} .poll-option[data-index=\"2\"] input")).await;
    click(&b, &format!("#e{poll} [data-poll-vote]")).await;
    let moved = [("0", "0%"), ("1", "50%"), ("1", "50%")];
    let seen = wait_poll(&a, "alice", poll, "bob's changed vote", |s| figures_are(s, &moved)).await;
    assert_eq!(seen["voters"], json!("2 voters"));
    let seen = wait_poll(&b, "bob", poll, "his changed vote marked", |s| {
        s["options"][2][4] == json!(true)
    })
    .await;
    assert_eq!(seen["options"][0][4], json!(false), "{seen:#}");
    let stored = t.app.get_json(&format!("/api/streams/{}/polls/{poll}", t.stream)).await;
    assert_eq!(stored["counts"], json!([0, 1, 1]), "{stored:#}");

    // Who voted for what, read when it is opened.
    click(&a, &format!("#e{poll} [data-poll-who] summary")).await;
    a.wait("who voted for what", PAGE_WAIT, || async {
        let who = a
            .js(&format!(
                "return Array.from(document.querySelectorAll('#e{poll} [data-poll-who-list] li'), (l) => l.textContent)"
            ))
            .await;
        (who == json!(["bob Wait for metrics", "carol No"])).then_some(())
    })
    .await;

    // Alice closes it: both pages show the results only, and say it is closed.
    click(&a, &format!("#e{poll} [data-poll-close]")).await;
    for (who, page) in [("alice", &a), ("bob", &b)] {
        let seen = wait_poll(page, who, poll, "the poll closed", |s| s["closed"] == json!(true)).await;
        assert!(seen["state"].as_str().unwrap().starts_with("Closed "), "{seen:#}");
        assert_eq!(seen["vote"], Value::Null, "no vote button on a closed poll: {seen:#}");
        assert_eq!(seen["close"], json!(false));
        assert!(
            seen["options"].as_array().unwrap().iter().all(|o| o[5] == json!(false)),
            "no choice to make on a closed poll: {seen:#}"
        );
        assert!(figures_are(&seen, &moved), "the results stay: {seen:#}");
        page.wait("the close in the log", PAGE_WAIT, || async {
            let line = page
                .text("[data-list=\"events\"] > li[data-type=\"poll_closed\"] .ev-says")
                .await;
            (line == "alice closed a poll").then_some(())
        })
        .await;
    }
    let seen = poll_seen(&b, poll).await;
    assert_eq!(seen["options"][2][4], json!(true), "bob still sees which was his vote");

    // A reload shows the same, rendered by the server.
    a.goto(&t.app.url(&t.page())).await;
    let seen = wait_poll(&a, "alice", poll, "the closed poll after a reload", |s| !s.is_null()).await;
    assert!(figures_are(&seen, &moved), "{seen:#}");
    assert_eq!(
        (seen["closed"].clone(), seen["vote"].clone()),
        (json!(true), Value::Null)
    );
    b.assert_not_reloaded("bob's stream page").await;
    a.close().await;
    b.close().await;
}

/// A PNG of `width` x `height` drawn by `pixel` (stored, uncompressed deflate: no codec).
pub fn png(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // no filter
        for x in 0..width {
            raw.extend(pixel(x, y));
        }
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push((i + 1 == blocks.len()) as u8);
        let n = block.len() as u16;
        z.extend(n.to_le_bytes());
        z.extend((!n).to_le_bytes());
        z.extend(*block);
    }
    let (mut s1, mut s2) = (1u32, 0u32);
    for &b in &raw {
        s1 = (s1 + b as u32) % 65_521;
        s2 = (s2 + s1) % 65_521;
    }
    z.extend(((s2 << 16) | s1).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A file on disk for the browser's file input; removed with the directory at the end.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> TempFile {
        let dir = std::env::temp_dir().join(format!("chatpulse-upload-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write the file to upload");
        TempFile { dir, path }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Picks `file` in the page's "Attach file" input, as a person choosing it would.
async fn attach(b: &Browser, file: &TempFile) {
    b.client
        .find(Locator::Css("[data-file-input]"))
        .await
        .expect("the file input")
        .send_keys(file.path.to_str().unwrap())
        .await
        .expect("choose the file");
}

/// The newest file row as shown: name, info, the download link and its `download`
/// attribute, the preview's source and whether its image loaded (its natural size), and
/// whether anything else (an iframe, object, embed) is in the row.
async fn file_seen(b: &Browser, name: &str) -> Value {
    b.js(&format!(
        r#"const li = Array.from(document.querySelectorAll('[data-list="events"] > li.ev-file'))
          .find((l) => l.querySelector('.file-name') && l.querySelector('.file-name').textContent === {name});
        if (!li) return null;
        const img = li.querySelector('img');
        if (img) img.scrollIntoView({{block: 'center'}});
        return {{
          id: Number(li.dataset.id),
          info: li.querySelector('.file-info').textContent,
          href: li.querySelector('.file-download').getAttribute('href'),
          download: li.querySelector('.file-download').hasAttribute('download'),
          preview: img ? img.getAttribute('src') : null,
          loaded: img ? img.complete && img.naturalWidth : null,
          embedded: li.querySelectorAll('iframe, object, embed, frame, svg:not(.poll-bar)').length,
        }};"#,
        name = json!(name)
    ))
    .await
}

/// The bytes at `url`, read by the page (same origin, its cookie), with the headers said.
async fn fetched(b: &Browser, url: &str) -> (Vec<u8>, Value) {
    let v = b
        .js(&format!(
            r#"return fetch({url}).then(async (r) => ({{
              status: r.status,
              disposition: r.headers.get('content-disposition'),
              nosniff: r.headers.get('x-content-type-options'),
              type: r.headers.get('content-type'),
              bytes: Array.from(new Uint8Array(await r.arrayBuffer())),
            }}));"#,
            url = json!(url)
        ))
        .await;
    let bytes = v["bytes"]
        .as_array()
        .expect("the bytes")
        .iter()
        .map(|n| n.as_u64().unwrap() as u8)
        .collect();
    (bytes, v)
}

/// "I attach the dashboard's screenshot from my laptop: my colleague sees it in place and
/// can download it; a log file is a link; a file too large is refused with the reason."
#[actix_rt::test]
async fn an_image_attached_in_the_page_shows_in_both_pages_with_a_preview_and_downloads_byte_for_byte() {
    let t = room(TestApp::builder().raw_args(["--max-file-bytes", "65536"])).await;
    let (a, b) = (Browser::start().await, Browser::start().await);
    sign_in(&a, &t.app, &t.alice).await;
    sign_in(&b, &t.app, &t.bob).await;
    open_live(&a, &t.app, &t.page()).await;
    open_live(&b, &t.app, &t.page()).await;
    assert_eq!(a.text(".composer-limit").await, "Files up to 64 KB");

    let image = png(48, 32, |x, y| [(x * 5) as u8, (y * 8) as u8, 160]);
    let file = TempFile::new("error-rate.png", &image);
    attach(&a, &file).await;
    let info = format!("{} · image/png", fmt_size(image.len()));
    for (who, page) in [("alice", &a), ("bob", &b)] {
        let what = format!("{who}'s page to show the image with its preview loaded");
        let seen = page
            .wait(&what, PAGE_WAIT, || async {
                let s = file_seen(page, "error-rate.png").await;
                (s["loaded"].as_u64().unwrap_or(0) > 0).then_some(s)
            })
            .await;
        assert_eq!(seen["loaded"], json!(48), "the preview is the image itself: {seen:#}");
        assert_eq!(seen["info"], json!(info));
        let href = seen["href"].as_str().unwrap().to_owned();
        assert_eq!(seen["preview"], json!(format!("{href}?inline=true")));
        assert_eq!(seen["download"], json!(true));
        assert_eq!(seen["embedded"], json!(0));
        let (bytes, said) = fetched(page, &href).await;
        assert_eq!(said["status"], json!(200), "{said:#}");
        assert!(
            bytes == image,
            "{who}: the download is the file, byte for byte ({} bytes, {} sent)",
            bytes.len(),
            image.len()
        );
        assert!(
            said["disposition"].as_str().unwrap_or("").starts_with("attachment"),
            "{said:#}"
        );
    }
    let events = t.app.get_json(&format!("/api/streams/{}/events", t.stream)).await;
    let stored = events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            stored["event_type"].clone(),
            stored["actor"].clone(),
            stored["file"]["content_type"].clone()
        ),
        (json!("file"), json!("alice"), json!("image/png")),
        "{stored:#}"
    );

    // A text file: a link and its type, no preview, nothing embedded.
    let log = TempFile::new("deploy.log", b"12:00 rollout started\n12:03 error rate 4%\n");
    attach(&b, &log).await;
    let seen = a
        .wait("the log file on alice's page", PAGE_WAIT, || async {
            let s = file_seen(&a, "deploy.log").await;
            (!s.is_null()).then_some(s)
        })
        .await;
    assert_eq!(seen["preview"], Value::Null, "only images are previewed: {seen:#}");
    assert_eq!(seen["embedded"], json!(0));
    // Chromium types a `.log` as `text/x-log`: the type is the browser's, kept as sent.
    assert!(
        seen["info"].as_str().unwrap().starts_with("42 bytes · text/"),
        "{seen:#}"
    );

    // Over the limit: said, with the limit, and nothing stored.
    let before = t.app.get_json(&format!("/api/streams/{}/events", t.stream)).await["events"]
        .as_array()
        .unwrap()
        .len();
    let big = TempFile::new("core.dump", &vec![7u8; 100 * 1024]);
    attach(&a, &big).await;
    a.wait_text(
        "[data-upload-error]",
        "Not uploaded: “core.dump” is 100 KB, and files here are at most 64 KB.",
    )
    .await;
    let after = t.app.get_json(&format!("/api/streams/{}/events", t.stream)).await["events"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused upload stores nothing");

    // Deleted: the row says so, its links and preview go.
    let id = seen["id"].as_i64().unwrap();
    let r = t
        .app
        .request(
            "DELETE",
            &format!("/api/streams/{}/events/{id}", t.stream),
            Some(&t.bob),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{r}");
    b.wait_text(&format!("#e{id} .ev-gone"), "file deleted").await;
    assert_eq!(
        b.js(&format!(
            "return document.querySelectorAll('#e{id} a[href*=\"/files/\"]').length"
        ))
        .await,
        json!(0)
    );
    a.assert_not_reloaded("alice's stream page").await;
    b.assert_not_reloaded("bob's stream page").await;
    a.close().await;
    b.close().await;
}

/// The page's size rule (format.rs, `file_size`) for a small file.
fn fmt_size(n: usize) -> String {
    if n < 1024 {
        format!("{n} bytes")
    } else {
        let v = n as f64 / 1024.0;
        let s = if v < 9.95 {
            format!("{:.1}", (v * 10.0).round() / 10.0)
        } else {
            format!("{}", v.round())
        };
        format!("{} KB", s.trim_end_matches(".0"))
    }
}

/// The files in `dir` (finished downloads only) and their bytes.
fn downloads(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .filter(|(name, _)| !name.ends_with(".crdownload") && !name.starts_with(".com.google"))
                .filter_map(|(name, path)| Some((name, std::fs::read(path).ok()?)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// What a hostile upload would do if it ran in the page's origin.
const PWN_HTML: &str = "<!doctype html><script>\
    localStorage.setItem('pwned', 'html'); document.cookie = 'pwned=html; path=/'; \
    document.title = 'pwned';</script><p>pwned</p>";
const PWN_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"localStorage.setItem('pwned', 'svg'); \
    document.cookie = 'pwned=svg; path=/'; document.title = 'pwned'\"><script>localStorage.setItem('pwned', 'svg-script');</script>\
    <rect width=\"10\" height=\"10\"/></svg>";

/// "Someone uploads an HTML page (or an SVG) that would steal from anyone who opens it: opening
/// it, even as 'inline', downloads it; nothing of it runs in chatpulse's origin."
#[actix_rt::test]
async fn an_uploaded_html_or_svg_file_never_runs_in_the_pages_origin() {
    let t = room(TestApp::builder()).await;
    let html = t.upload(&t.bob, "invoice.html", "text/html", PWN_HTML.into()).await;
    let svg = t.upload(&t.bob, "logo.svg", "image/svg+xml", PWN_SVG.into()).await;

    let saved = TempFile::new("readme.txt", b"downloads of this test land here");
    let a = Browser::downloading(&saved.dir).await;
    sign_in(&a, &t.app, &t.alice).await;
    open_live(&a, &t.app, &t.page()).await;
    for (event, name) in [(&html, "invoice.html"), (&svg, "logo.svg")] {
        let seen = file_seen(&a, name).await;
        assert_eq!(seen["preview"], Value::Null, "{name} is never shown in place: {seen:#}");
        assert_eq!(seen["embedded"], json!(0), "{name} is never embedded: {seen:#}");
        assert_eq!(seen["href"], event["file"]["url"]);
    }

    // The browser opens each of them, as a person clicking a link or pasting it would.
    for event in [&html, &svg] {
        let url = event["file"]["url"].as_str().unwrap();
        for path in [url.to_owned(), format!("{url}?inline=true")] {
            // A download ends the navigation (WebDriver may call that an error): either way
            // the check is what the origin holds afterwards.
            let _ = a.client.goto(&t.app.url(&path)).await;
            actix_rt::time::sleep(Duration::from_millis(700)).await;
            let title = a.js_str("return document.title").await;
            assert_ne!(title, "pwned", "{path} ran as a page");
        }
    }
    a.goto(&t.app.url(&t.page())).await;
    a.wait_state("live", PAGE_WAIT).await;
    let origin = a
        .js("return {storage: localStorage.getItem('pwned'), cookie: document.cookie, title: document.title}")
        .await;
    assert_eq!(
        origin["storage"],
        Value::Null,
        "an upload wrote this origin's storage: {origin:#}"
    );
    assert!(
        !origin["cookie"].as_str().unwrap_or("").contains("pwned"),
        "an upload set a cookie: {origin:#}"
    );
    assert_ne!(origin["title"], json!("pwned"));

    // Each of the four was saved as a download, the bytes as uploaded.
    // The second download of a name is "invoice (1).html".
    fn is_download_of(saved: &str, name: &str) -> bool {
        let (stem, ext) = name.rsplit_once('.').unwrap();
        saved == name || (saved.starts_with(&format!("{stem} (")) && saved.ends_with(&format!(").{ext}")))
    }
    let got = a
        .wait("the four downloads", PAGE_WAIT, || async {
            let got = downloads(&saved.dir);
            (got.len() == 5).then_some(got)
        })
        .await;
    for (name, body) in [("invoice.html", PWN_HTML), ("logo.svg", PWN_SVG)] {
        let saved: Vec<_> = got.iter().filter(|(n, _)| is_download_of(n, name)).collect();
        assert_eq!(
            saved.len(),
            2,
            "{name} downloaded, as it is and “inline”: {:?}",
            got.iter().map(|g| &g.0).collect::<Vec<_>>()
        );
        assert!(
            saved.iter().all(|(_, b)| b == body.as_bytes()),
            "{name}: the download is the upload"
        );
    }

    // The server's answer: an attachment the browser must not sniff, sandboxed besides.
    for event in [&html, &svg] {
        let url = event["file"]["url"].as_str().unwrap();
        for path in [url.to_owned(), format!("{url}?inline=true")] {
            let r = t.app.get(&path).await;
            assert_eq!(r.status, 200, "{path}: {r}");
            let disposition = r.header("content-disposition").unwrap_or("");
            assert!(disposition.starts_with("attachment"), "{path}: {disposition}");
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
            assert!(
                r.header("content-security-policy").unwrap_or("").contains("sandbox"),
                "{path}"
            );
        }
    }
    a.close().await;
}
