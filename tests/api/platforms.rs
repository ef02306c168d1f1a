//! The deploy targets as this machine can play them: a Heroku dyno (the
//! Procfile's processes with what app.json generates, PostgreSQL over TLS,
//! a SASL memcached as MemCachier, requests as Heroku's router sends them),
//! docker-compose.yml's agent with its own environment, the Dockerfile's
//! user and volume rules, and the public URL every platform feeds. The
//! files themselves (the button, app.json, render.yaml, fly.toml, the
//! Dockerfile, docker-compose.yml) are checked against what the code does.

use std::collections::BTreeMap;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::common::memcached::Memcached;
use crate::common::{Backend, Server, TestDb, World, text};
use token_agent::fake::FakeApp;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BINARY: &str = env!("CARGO_BIN_EXE_token-agent");
/// A Heroku app made since June 2023 lives at NAME-<12 hex>.herokuapp.com.
const HEROKU_HOST: &str = "sunny-tokens-4f3c2a1b9e8d.herokuapp.com";

/// The README section under `heading`, up to the next heading.
fn readme_section(heading: &str) -> String {
    let readme = read("README.md");
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("the README has no {heading} section"))
        + 1;
    let body = &readme[start + heading.len()..];
    let end = [body.find("\n## "), body.find("\n### ")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(body.len());
    body[..end].to_string()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    YamlLoader::load_from_str(&read(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .remove(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http() -> reqwest::Client {
    token_agent::tls::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn basic(password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("owner:{password}"))
    )
}

/// Polls `check` until it holds, for at most `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("waited {limit:?} for {what}");
}

async fn healthy(port: u16) -> bool {
    let url = format!("http://127.0.0.1:{port}/healthz");
    matches!(http().get(url).send().await, Ok(r) if r.status() == StatusCode::OK)
}

/// Sends SIGTERM and waits (at most `limit`) for the process to exit.
async fn terminate(child: Child, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let pid = child.id();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    match tokio::time::timeout(limit, waiting).await {
        Ok(output) => (output.unwrap(), started.elapsed()),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the process did not exit within {limit:?} of SIGTERM");
        }
    }
}

/// A Procfile line as a command on the built binary.
fn procfile_command(kind: &str) -> Command {
    let procfile = read("Procfile");
    let line = procfile
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{kind}:")))
        .unwrap_or_else(|| panic!("no {kind} process in the Procfile"));
    let mut words = line.split_whitespace();
    assert_eq!(
        words.next(),
        Some("./target/release/token-agent"),
        "the buildpack leaves the binary there"
    );
    let mut cmd = Command::new(BINARY);
    cmd.args(words)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// What app.json makes of its `env` on a new app: generated secrets,
/// default values, and `required` ones as the user would fill them in.
fn app_json_environment() -> (BTreeMap<String, String>, Vec<String>) {
    let app: Value = serde_json::from_str(&read("app.json")).unwrap();
    let mut env = BTreeMap::new();
    let mut generated = Vec::new();
    for (name, spec) in app["env"].as_object().unwrap() {
        if spec["generator"] == "secret" {
            // Heroku's generator: 64 hex characters.
            let secret = hex::encode(rand::random::<[u8; 32]>());
            generated.push(secret.clone());
            env.insert(name.clone(), secret);
        } else if let Some(value) = spec["value"].as_str() {
            env.insert(name.clone(), value.to_string());
        } else if spec["required"] == true {
            assert_eq!(
                name, "ALLOWED_DOMAINS",
                "a new required variable: fill it here"
            );
            env.insert(name.clone(), "example.com www.example.com".into());
        }
    }
    (env, generated)
}

// The files.

#[test]
fn the_heroku_button_deploys_the_repository_cargo_toml_names() {
    let repository = env!("CARGO_PKG_REPOSITORY");
    assert!(
        repository.starts_with("https://github.com/")
            && repository.split('/').count() == 5
            && !repository.ends_with(".git"),
        "Cargo.toml's repository must be https://github.com/OWNER/REPO: {repository}"
    );
    let readme = read("README.md");
    let button = format!("https://www.heroku.com/deploy?template={repository})");
    assert!(
        readme.contains(&button),
        "the README's button must be {button}"
    );
    assert!(
        !readme.contains("heroku.com/deploy)"),
        "a bare deploy link depends on a Referer GitHub no longer sends"
    );
    let app: Value = serde_json::from_str(&read("app.json")).unwrap();
    assert_eq!(app["repository"], repository);
}

#[test]
fn app_json_deploys_on_every_account_and_the_readme_states_the_cost() {
    let app: Value = serde_json::from_str(&read("app.json")).unwrap();
    assert_eq!(app["stack"], "heroku-24");
    for (kind, process) in app["formation"].as_object().unwrap() {
        assert_eq!(
            process["size"], "basic",
            "{kind}: eco fails for accounts without an Eco subscription"
        );
    }
    assert!(
        app["env"].get("APP_NAME").is_none(),
        "the public URL is never derived from APP_NAME"
    );
    let heroku = readme_section("### Heroku");
    assert!(
        heroku.contains("USD a month") && heroku.contains("Basic"),
        "{heroku}"
    );
}

/// The `FROM`, `ENV`, `USER`… instructions of the Dockerfile, with their
/// continuation lines joined.
fn dockerfile() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                let (word, rest) = current.trim().split_once(' ').unwrap_or((&current, ""));
                instructions.push((word.to_ascii_uppercase(), rest.trim().to_string()));
                current.clear();
            }
        }
    }
    instructions
}

fn dockerfile_env() -> BTreeMap<String, String> {
    dockerfile()
        .into_iter()
        .filter(|(word, _)| word == "ENV")
        .flat_map(|(_, rest)| {
            rest.split_whitespace()
                .map(|pair| {
                    let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
                    (k.to_string(), v.to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_dockerfile_builds_on_trixie_runs_as_65532_and_checks_its_own_health() {
    let instructions = dockerfile();
    let of = |word: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(w, _)| w == word)
            .map(|(_, rest)| rest.as_str())
            .collect()
    };
    let from = of("FROM");
    assert_eq!(from.len(), 2, "{from:?}");
    assert!(from[0].starts_with("rust:1.95-trixie "), "{from:?}");
    assert_eq!(from[1], "gcr.io/distroless/cc-debian13:nonroot");
    let rust = read("RustConfig");
    assert!(
        rust.contains("VERSION=1.95"),
        "Heroku and Docker build with the same Rust"
    );

    let runs = of("RUN");
    let build = runs.iter().find(|r| r.contains("cargo build")).unwrap();
    for cache in [
        "--mount=type=cache,target=/usr/local/cargo/registry",
        "--mount=type=cache,target=/src/target",
    ] {
        assert!(build.contains(cache), "{build}");
    }
    assert!(build.contains("--locked"));
    assert!(
        runs.iter()
            .any(|r| r.contains("install -d") && r.contains("-o 65532 -g 65532 /data")),
        "/data is made in the image, owned by the agent's user: {runs:?}"
    );
    assert!(
        of("COPY").contains(&"--from=build --chown=65532:65532 /data /data"),
        "{:?}",
        of("COPY")
    );
    assert_eq!(of("VOLUME"), ["[\"/data\"]"]);
    assert_eq!(of("USER"), ["65532:65532"]);
    let env = dockerfile_env();
    assert_eq!(env["DATABASE_URL"], "sqlite:///data/token-agent.db");
    assert_eq!(of("EXPOSE"), [env["PORT"].as_str()]);

    let health = of("HEALTHCHECK");
    assert_eq!(health.len(), 1);
    assert!(
        health[0].ends_with("CMD [\"/token-agent\", \"healthcheck\"]"),
        "{health:?}"
    );
    let out = Command::new(BINARY)
        .args(["healthcheck", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "the sub-command exists");
    assert_eq!(of("ENTRYPOINT"), ["[\"/token-agent\"]"]);
    assert_eq!(of("CMD"), ["[\"serve\"]"]);
}

fn compose_agent_environment(compose: &Yaml) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (key, value) in compose["services"]["agent"]["environment"]
        .as_hash()
        .expect("the agent's environment as a map")
    {
        env.insert(
            key.as_str().unwrap().to_string(),
            value.as_str().expect("string values").to_string(),
        );
    }
    env
}

/// `${VAR:-default}` gives the default and `${VAR:?message}` the value the
/// user gives in `given`, as `docker compose` does.
fn interpolate(value: &str, given: &BTreeMap<&str, &str>) -> String {
    let Some(inner) = value
        .strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
    else {
        return value.to_string();
    };
    if let Some((var, default)) = inner.split_once(":-") {
        return given
            .get(var)
            .map(|v| v.to_string())
            .unwrap_or(default.into());
    }
    let (var, _) = inner.split_once(":?").expect("${VAR:-x} or ${VAR:?x}");
    given
        .get(var)
        .unwrap_or_else(|| panic!("compose requires {var}"))
        .to_string()
}

#[test]
fn docker_compose_waits_for_a_postgresql_that_speaks_tls() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    let env = compose_agent_environment(&compose);
    let database = url::Url::parse(&env["DATABASE_URL"]).unwrap();
    assert_eq!(database.host_str(), Some("postgres"));
    let sslmode = database
        .query_pairs()
        .find(|(k, _)| k == "sslmode")
        .map(|(_, v)| v.into_owned());
    assert_eq!(sslmode.as_deref(), Some("require"), "{database}");
    let command: Vec<&str> = services["postgres"]["command"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(command.contains(&"ssl=on"), "{command:?}");
    assert!(
        command
            .iter()
            .any(|c| c.starts_with("ssl_cert_file=") || c.starts_with("ssl_key_file=")),
        "{command:?}"
    );
    assert_eq!(
        services["agent"]["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );
    let test = services["postgres"]["healthcheck"]["test"]
        .as_vec()
        .unwrap();
    assert!(
        test.iter().any(|t| t.as_str() == Some("pg_isready")),
        "{test:?}"
    );
    assert!(
        env.get("APP_URL").is_none_or(|v| v == "${APP_URL:-}"),
        "without APP_URL the agent uses the URL it is reached at"
    );
}

#[test]
fn render_yaml_is_a_blueprint_of_the_agent_with_its_database() {
    let blueprint = yaml("render.yaml");
    let service = &blueprint["services"][0];
    assert_eq!(service["type"].as_str(), Some("web"));
    assert_eq!(service["runtime"].as_str(), Some("docker"));
    let dockerfile = service["dockerfilePath"].as_str().unwrap();
    assert!(
        std::path::Path::new(ROOT).join(dockerfile).exists(),
        "{dockerfile}"
    );
    assert!(
        ["free", "starter", "standard"].contains(&service["plan"].as_str().unwrap()),
        "a Render web service plan"
    );
    assert_eq!(service["healthCheckPath"].as_str(), Some("/healthz"));
    let known = [
        "key",
        "value",
        "sync",
        "generateValue",
        "fromDatabase",
        "fromService",
        "fromGroup",
    ];
    let mut keys = Vec::new();
    let databases: Vec<&str> = blueprint["databases"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for var in service["envVars"].as_vec().unwrap() {
        for (field, _) in var.as_hash().unwrap() {
            assert!(known.contains(&field.as_str().unwrap()), "{field:?}");
        }
        let key = var["key"].as_str().unwrap();
        keys.push(key);
        if var["generateValue"].as_bool() == Some(true) {
            assert!(
                ["ADMIN_PASSWORD", "WEBHOOK_SECRET", "TOKEN_ENCRYPTION_KEY"].contains(&key),
                "{key}"
            );
        }
        if let Yaml::Hash(_) = var["fromDatabase"] {
            assert!(databases.contains(&var["fromDatabase"]["name"].as_str().unwrap()));
            assert_eq!(
                var["fromDatabase"]["property"].as_str(),
                Some("connectionString")
            );
        }
    }
    let config = read("src/config/mod.rs");
    for key in &keys {
        assert!(
            config.contains(&format!(
                "    {}: Option<String>,",
                key.to_ascii_lowercase()
            )),
            "render.yaml sets {key}, which the agent does not read"
        );
    }
    for needed in ["DATABASE_URL", "ALLOWED_DOMAINS", "TOKEN_ENCRYPTION_KEY"] {
        assert!(keys.contains(&needed), "{needed}");
    }
    assert!(
        !keys.contains(&"APP_URL"),
        "Render sets RENDER_EXTERNAL_URL, which the agent reads"
    );
    for database in blueprint["databases"].as_vec().unwrap() {
        assert_ne!(
            database["plan"].as_str(),
            Some("free"),
            "free Render databases are deleted after 30 days"
        );
    }
}

#[test]
fn fly_toml_keeps_sqlite_on_the_volume_the_dockerfile_prepares() {
    let fly: toml::Table = read("fly.toml").parse().unwrap();
    assert!(fly["app"].is_str());
    let dockerfile = fly["build"]["dockerfile"].as_str().unwrap();
    assert!(std::path::Path::new(ROOT).join(dockerfile).exists());
    let mount = fly["mounts"]["destination"].as_str().unwrap();
    assert_eq!(mount, "/data", "the Dockerfile's VOLUME");
    let env = fly["env"].as_table().unwrap();
    let database = env["DATABASE_URL"].as_str().unwrap();
    assert!(
        database.starts_with(&format!("sqlite://{mount}/")),
        "{database} must be on the volume"
    );
    let service = fly["http_service"].as_table().unwrap();
    let port = env["PORT"].as_str().unwrap();
    assert_eq!(
        service["internal_port"].as_integer().unwrap().to_string(),
        port
    );
    assert_eq!(dockerfile_env()["PORT"], port);
    assert_eq!(service["force_https"].as_bool(), Some(true));
    let checks = service["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["path"].as_str() == Some("/healthz"))
    );
    assert!(
        env.get("APP_URL").is_none(),
        "Fly sets FLY_APP_NAME, which the agent reads"
    );
    let config = token_agent::config::Config::from_vars(
        env.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .chain([("FLY_APP_NAME".to_string(), "sunny-tokens".to_string())]),
    )
    .expect("fly.toml's environment is a valid configuration");
    assert_eq!(
        config.configured_url().map(|(u, _)| u.to_string()),
        Some("https://sunny-tokens.fly.dev/".into())
    );
}

#[test]
fn the_readme_has_a_section_for_every_deploy_file() {
    for (section, file) in [
        ("### Heroku", "app.json"),
        ("### Docker", "Dockerfile"),
        ("### Docker Compose", "docker-compose.yml"),
        ("### Render", "render.yaml"),
        ("### Fly.io", "fly.toml"),
    ] {
        let body = readme_section(section);
        assert!(body.contains(file), "{section} must name {file}");
    }
}

// The public URL, in process.

fn heroku_fake_app() -> FakeApp {
    FakeApp {
        redirect_uris: vec![format!("https://{HEROKU_HOST}/connect/instagram/callback")],
        ..FakeApp::default()
    }
}

async fn without_app_url_pages_and_logins_use_the_url_the_request_came_to(backend: Backend) {
    // Arrange: no APP_URL, an Instagram app registered for the Heroku host.
    let world = World::new(backend).await;
    let meta = heroku_fake_app();
    world.fake.set_options(|o| o.app = heroku_fake_app());
    let authorize = world.fake.instagram_authorize_url();
    let app = world
        .app(&[
            ("APP_URL", ""),
            ("ADMIN_PASSWORD", "pw-1"),
            ("INSTAGRAM_APP_ID", &meta.ig_app_id),
            ("INSTAGRAM_APP_SECRET", &meta.ig_app_secret),
            ("INSTAGRAM_AUTHORIZE_URL", &authorize),
        ])
        .await;
    let server = Server::start(app.clone()).await;
    let http = http();
    let as_heroku = |request: reqwest::RequestBuilder| {
        request
            .header("Host", HEROKU_HOST)
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Port", "443")
            .header("X-Forwarded-For", "203.0.113.7")
    };

    // Act + Assert: the setup page's snippets and the APP_URL to set.
    let home = as_heroku(http.get(server.url("/")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains(&format!(
            "&#60;script src=&#34;https://{HEROKU_HOST}/token.js&#34;&#62;"
        )) || home.contains(&format!("<script src=\"https://{HEROKU_HOST}/token.js\">")),
        "{home}"
    );
    assert!(
        home.contains(&format!("APP_URL=https://{HEROKU_HOST}")),
        "{home}"
    );

    // The admin page's redirect URIs, and the login itself.
    let admin = as_heroku(http.get(server.url("/admin")))
        .header("Authorization", basic("pw-1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        admin.contains(&format!("https://{HEROKU_HOST}/connect/instagram/callback")),
        "{admin}"
    );
    let csrf = token_agent::http::admin::csrf_token(&app);
    let res = as_heroku(http.post(server.url("/connect/instagram")))
        .header("Authorization", basic("pw-1"))
        .form(&[("csrf", csrf.as_str()), ("account", "shop")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let window = res.headers()["location"].to_str().unwrap().to_string();
    let sent = url::Url::parse(&window)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned());
    assert_eq!(
        sent,
        Some(format!("https://{HEROKU_HOST}/connect/instagram/callback"))
    );
    let res = http.get(&window).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = res.headers()["location"].to_str().unwrap().to_string();
    let path = back
        .strip_prefix(&format!("https://{HEROKU_HOST}"))
        .expect("Meta sends the browser back to the Heroku host");
    // The callback arrives with another Host (a custom domain, say): the
    // code is exchanged with the redirect_uri the login was started with.
    let res = http
        .get(server.url(path.split('#').next().unwrap()))
        .header("Host", "tokens.example.com")
        .header("Cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let account = app.store.account("shop").await.unwrap();
    assert!(
        account.is_some(),
        "the code exchange used the identical redirect_uri"
    );
    server.stop().await;
}

async fn a_strangers_host_header_changes_nothing_anyone_else_is_shown(backend: Backend) {
    let world = World::new(backend).await;
    let app = world
        .app(&[
            ("APP_URL", ""),
            ("ADMIN_PASSWORD", "pw-2"),
            ("WEBHOOK_SECRET", "s"),
        ])
        .await;
    let server = Server::start(app.clone()).await;
    let http = http();
    let evil = |request: reqwest::RequestBuilder| {
        request
            .header("Host", "evil.example")
            .header("X-Forwarded-Host", "evil.example")
    };

    // A stranger's own answer follows their headers…
    let home = evil(http.get(server.url("/"))).send().await.unwrap();
    assert!(home.text().await.unwrap().contains("evil.example"));
    // …but not a feed answer, which a shared cache may hand to others.
    world
        .give_token(&app, "default", chrono::Duration::days(2))
        .await;
    let feed = http
        .get(server.url("/feed.json?limit=2"))
        .header("Host", HEROKU_HOST)
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .header("Origin", "https://example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    let body: Value = feed.json().await.unwrap();
    let next = body["paging"]["next"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("http://{HEROKU_HOST}/feed.json?")),
        "Host only, and no proxy is trusted here to say https: {next}"
    );
    // …and a failed sign-in, or the pages anyone may see, keep nothing.
    let res = evil(http.get(server.url("/admin")))
        .header("Authorization", basic("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let _ = evil(http.get(server.url("/status"))).send().await.unwrap();
    let _ = evil(http.get(server.url("/healthz"))).send().await.unwrap();
    assert_eq!(
        app.public_url.known_now(&app.store).await,
        token_agent::public_url::Known::Unknown
    );
    assert!(app.public_url.link("admin").is_err(), "said plainly");

    // The owner's signed-in visit teaches the agent its URL…
    let res = http
        .get(server.url("/admin"))
        .header("Host", HEROKU_HOST)
        .header("X-Forwarded-Proto", "https")
        .header("Authorization", basic("pw-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let owner = format!("https://{HEROKU_HOST}/");
    // …which later strangers cannot replace.
    let _ = evil(http.get(server.url("/"))).send().await.unwrap();
    let _ = evil(http.get(server.url("/admin")))
        .header("Authorization", basic("wrong"))
        .send()
        .await
        .unwrap();
    let known = app.public_url.known_now(&app.store).await;
    assert_eq!(known.url().map(url::Url::as_str), Some(owner.as_str()));
    assert!(
        app.public_url
            .link("admin")
            .unwrap()
            .starts_with(&format!("https://{HEROKU_HOST}/"))
    );
    // Another process on the same database (the hook-url command) reads it.
    let out = crate::common::run(crate::common::agent_command(
        &world,
        &["hook-url"],
        &[("APP_URL", ""), ("WEBHOOK_SECRET", "s")],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with(&format!("https://{HEROKU_HOST}/hooks/refresh/")),
        "{}",
        text(&out)
    );
    server.stop().await;
}

on_both_backends!(
    without_app_url_pages_and_logins_use_the_url_the_request_came_to,
    a_strangers_host_header_changes_nothing_anyone_else_is_shown,
);

#[tokio::test]
async fn hook_url_says_plainly_when_the_public_url_is_not_known_yet() {
    let world = World::new(Backend::Sqlite).await;
    let out = crate::common::run(crate::common::agent_command(
        &world,
        &["hook-url"],
        &[("APP_URL", ""), ("WEBHOOK_SECRET", "s")],
    ))
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("does not know its public URL yet: set APP_URL"),
        "{}",
        text(&out)
    );
}

// The platforms, as processes.

/// The Procfile's release process twice, then its web process on $PORT with
/// Heroku Postgres (TLS), MemCachier (SASL) and what app.json generates;
/// requests as Heroku's router sends them; SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heroku_dyno_releases_serves_the_real_host_and_stops_on_sigterm() {
    let world = World::at_wall_clock(Backend::Postgres).await;
    let database_url = format!("{}?sslmode=require", world.db.url);
    let memcachier = Memcached::start_sasl(&[("mc-user", "mc-pass-7e2d41")]);
    let (generated, secrets) = app_json_environment();
    let port = free_port();
    let mut env = generated.clone();
    env.extend(
        [
            ("DATABASE_URL", database_url.as_str()),
            ("MEMCACHIER_SERVERS", &memcachier.addr()),
            ("MEMCACHIER_USERNAME", "mc-user"),
            ("MEMCACHIER_PASSWORD", "mc-pass-7e2d41"),
            ("PORT", &port.to_string()),
            ("DYNO", "web.1"),
            // An app made before this version still has it.
            ("APP_NAME", "sunny-tokens"),
            // Meta, played by the fake.
            ("INSTAGRAM_GRAPH_URL", &world.fake.instagram_graph_url()),
            ("INSTAGRAM_OAUTH_URL", &world.fake.instagram_oauth_url()),
            ("FACEBOOK_GRAPH_URL", &world.fake.facebook_graph_url()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let token = world
        .fake
        .issue_long_lived_token(&world.user, world.clock.now() - chrono::Duration::days(3));

    for _ in 0..2 {
        let out = procfile_command("release")
            .envs(&env)
            .output()
            .expect("release runs");
        assert!(out.status.success(), "{}", text(&out));
    }

    // `heroku run token-agent accounts add …`, as a one-off dyno would.
    let mut add = Command::new(BINARY);
    add.args(["accounts", "add", "default", "--token", &token])
        .env_clear()
        .envs(&env);
    let out = add.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));

    let child = procfile_command("web").envs(&env).spawn().unwrap();
    eventually(
        "the web process to answer /healthz",
        Duration::from_secs(60),
        || healthy(port),
    )
    .await;
    let http = http();
    let router = |request: reqwest::RequestBuilder| {
        request
            .header("Host", HEROKU_HOST)
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Port", "443")
            .header("X-Forwarded-For", "198.51.100.23")
            .header("X-Request-Start", "1764640000000")
    };
    let base = format!("http://127.0.0.1:{port}");
    let home = router(http.get(format!("{base}/")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains(&format!("src=&#34;https://{HEROKU_HOST}/token.js"))
            || home.contains(&format!("src=\"https://{HEROKU_HOST}/token.js")),
        "{home}"
    );
    assert!(
        !home.contains("sunny-tokens.herokuapp.com"),
        "never the APP_NAME host"
    );
    let admin = router(http.get(format!("{base}/admin")))
        .header("Authorization", basic(&generated["ADMIN_PASSWORD"]))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::OK);
    let admin = admin.text().await.unwrap();
    for path in [
        "/connect/instagram/callback",
        "/connect/facebook/callback",
        "/callbacks/data-deletion",
    ] {
        assert!(
            admin.contains(&format!("https://{HEROKU_HOST}{path}")),
            "{path}: {admin}"
        );
    }
    // The token, and the feed through MemCachier (SASL).
    let served = router(http.get(format!("{base}/token.json")))
        .header("Origin", "https://example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    for _ in 0..2 {
        let feed = router(http.get(format!("{base}/feed.json?limit=3")))
            .header("Referer", "https://www.example.com/blog/")
            .send()
            .await
            .unwrap();
        assert_eq!(feed.status(), StatusCode::OK);
        let body: Value = feed.json().await.unwrap();
        assert_eq!(body["data"].as_array().unwrap().len(), 3);
        let next = body["paging"]["next"].as_str().unwrap();
        assert!(
            next.starts_with(&format!("https://{HEROKU_HOST}/feed.json?")),
            "paging links on the router's host and scheme: {next}"
        );
    }
    let status = router(http.get(format!("{base}/status")))
        .header("Authorization", basic(&generated["ADMIN_PASSWORD"]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("memcached — reachable"), "{status}");

    let (output, took) = terminate(child, Duration::from_secs(30)).await;
    assert!(
        output.status.success(),
        "SIGTERM is a clean exit: {:?}\n{}",
        output.status,
        text(&output)
    );
    assert!(took < Duration::from_secs(30));
    let log = text(&output);
    assert!(log.contains("APP_NAME is set and ignored"), "{log}");
    assert!(
        !log.contains("SASL"),
        "MemCachier's credentials work: {log}"
    );
    for secret in secrets
        .iter()
        .map(String::as_str)
        .chain(["mc-pass-7e2d41", token.as_str()])
    {
        assert!(!log.contains(secret), "the log shows a secret:\n{log}");
    }
}

/// docker-compose.yml's agent, started with its service's own environment
/// (over the Dockerfile's), where `postgres` and `memcached` resolve to this
/// machine: PostgreSQL here speaks TLS, like compose's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_agent_starts_with_its_own_environment_and_runs() {
    let compose = yaml("docker-compose.yml");
    let memcached = Memcached::start();
    let memcached_port = memcached.addr().rsplit_once(':').unwrap().1.to_string();
    let db = TestDb::new(Backend::Postgres).await;
    let db_name = url::Url::parse(&db.url).unwrap().path().to_string();

    // compose's own user, owning this test's database.
    let mut admin = crate::common::pg_admin().await;
    let _ = sqlx::query(
        "DO $$ BEGIN CREATE ROLE agent LOGIN PASSWORD 'agent'; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    .execute(&mut admin)
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} OWNER TO agent",
        db_name.trim_start_matches('/')
    )))
    .execute(&mut admin)
    .await
    .unwrap();

    let given = BTreeMap::from([("ALLOWED_DOMAINS", "example.com")]);
    let mut env = dockerfile_env();
    for (key, value) in compose_agent_environment(&compose) {
        env.insert(key, interpolate(&value, &given));
    }
    // The test's own database and memcached port; the host names stay.
    let mut database = url::Url::parse(&env["DATABASE_URL"]).unwrap();
    database.set_path(&db_name);
    env.insert("DATABASE_URL".into(), database.to_string());
    let memcache = env["MEMCACHE_SERVERS"].replace(":11211", &format!(":{memcached_port}"));
    env.insert("MEMCACHE_SERVERS".into(), memcache);
    let port = free_port();
    env.insert("PORT".into(), port.to_string());

    // Like compose's network: the service names resolve, here to loopback,
    // in a mount namespace of the agent's own.
    let hosts = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        hosts.path(),
        "127.0.0.1 localhost\n127.0.0.1 postgres memcached\n",
    )
    .unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$0" /etc/hosts && exec "$1" serve"#)
        .arg(hosts.path())
        .arg(BINARY)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("unshare (util-linux) runs; the test needs root for a mount namespace");
    let limit = Duration::from_secs(60);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            panic!("the agent exited ({status}):\n{}", text(&output));
        }
        if healthy(port).await {
            break;
        }
        assert!(Instant::now() < deadline, "not running within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (output, _) = terminate(child, Duration::from_secs(30)).await;
    assert!(output.status.success(), "{}", text(&output));
    let log = text(&output);
    assert!(
        log.contains("database=\"PostgreSQL\"") || log.contains("PostgreSQL"),
        "{log}"
    );
    drop(memcached);
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The image's rules on this machine: the binary as uid 65532 on a folder
/// made the way the Dockerfile makes /data (and, for contrast, on the
/// root-owned folder a volume over a missing path would be).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_uid_65532_the_agent_runs_on_a_data_folder_made_like_the_images() {
    use std::os::unix::process::CommandExt;
    assert!(
        is_root(),
        "this test switches to uid 65532, which needs root (CI runs as root)"
    );
    let scratch = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        scratch.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let prepared = scratch.path().join("data");
    let root_owned = scratch.path().join("volume");
    // The Dockerfile's `install -d -m 0700 -o 65532 -g 65532 /data`.
    let made = Command::new("install")
        .args(["-d", "-m", "0700", "-o", "65532", "-g", "65532"])
        .arg(&prepared)
        .status()
        .unwrap();
    assert!(made.success());
    // What Docker creates for a volume over a path the image lacks.
    let made = Command::new("install")
        .args(["-d", "-m", "0755", "-o", "0", "-g", "0"])
        .arg(&root_owned)
        .status()
        .unwrap();
    assert!(made.success());

    // A copy of the binary where uid 65532 may run it, wherever the build is.
    let binary = scratch.path().join("token-agent");
    std::fs::copy(BINARY, &binary).unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let as_nonroot = |dir: &std::path::Path, args: &[&str], port: u16| {
        let mut cmd = Command::new(&binary);
        cmd.args(args)
            .env_clear()
            .env("PORT", port.to_string())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/token-agent.db", dir.display()),
            )
            .env("ALLOWED_DOMAINS", "example.com")
            .current_dir("/")
            .uid(65532)
            .gid(65532)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };

    let refused = as_nonroot(&root_owned, &["migrate"], 0).output().unwrap();
    assert!(
        !refused.status.success(),
        "a root-owned volume is not writable"
    );

    let port = free_port();
    let child = as_nonroot(&prepared, &["serve"], port).spawn().unwrap();
    eventually("the agent as uid 65532", Duration::from_secs(30), || {
        healthy(port)
    })
    .await;
    let check = as_nonroot(&prepared, &["healthcheck"], port)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));
    let (output, _) = terminate(child, Duration::from_secs(30)).await;
    assert!(output.status.success(), "{}", text(&output));
    let metadata = std::fs::metadata(prepared.join("token-agent.db")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&metadata), 65532);
}

#[tokio::test]
async fn healthcheck_exits_non_zero_when_nothing_answers() {
    let port = free_port();
    let out = Command::new(BINARY)
        .arg("healthcheck")
        .env_clear()
        .env("PORT", port.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("unhealthy"), "{}", text(&out));
}
