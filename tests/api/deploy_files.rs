//! The deployment files against what the code reads and Heroku accepts:
//! app.json's fields and types (Heroku's app.json schema), every variable
//! the code reads documented in app.json or README (or deliberately
//! internal), and a Procfile that names real sub-commands.

use std::collections::BTreeSet;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The variables `Config` reads: the fields of `RawEnv` in src/config/mod.rs.
fn variables_the_code_reads() -> BTreeSet<String> {
    let source = read("src/config/mod.rs");
    let start = source.find("struct RawEnv {").expect("RawEnv in config.rs");
    let body = &source[start..source[start..].find('}').map(|e| start + e).unwrap()];
    let vars: BTreeSet<String> = body
        .lines()
        .filter_map(|line| line.trim().split_once(": Option<String>"))
        .map(|(field, _)| field.trim().to_ascii_uppercase())
        .collect();
    assert!(vars.len() > 20, "found only {vars:?}");
    vars
}

/// Read by the code but set by the platform, meant for tests, or tuning
/// with safe defaults (documented in the README only); not prompted for on
/// Heroku.
const INTERNAL: &[&str] = &[
    "PORT",
    "DYNO",
    "DATABASE_URL",
    "MEMCACHIER_SERVERS",
    "MEMCACHIER_USERNAME",
    "MEMCACHIER_PASSWORD",
    "MEMCACHE_SERVERS",
    "APP_URL",
    // Accepted from older installs and ignored; app.json no longer asks.
    "APP_NAME",
    // Set by the platforms themselves.
    "HEROKU_APP_DEFAULT_DOMAIN_NAME",
    "RENDER_EXTERNAL_URL",
    "RENDER",
    "FLY_APP_NAME",
    "INSTAGRAM_GRAPH_URL",
    "INSTAGRAM_OAUTH_URL",
    "INSTAGRAM_AUTHORIZE_URL",
    "FACEBOOK_GRAPH_URL",
    "FACEBOOK_DIALOG_URL",
    "UPSTREAM_TIMEOUT_MS",
    "GRAPH_API_VERSION",
    "REFRESH_CHECK_SECONDS",
    "HTTP_HEADER_TIMEOUT_SECONDS",
    "HTTP_IDLE_TIMEOUT_SECONDS",
    "HTTP_BODY_TIMEOUT_SECONDS",
    "HTTP_SEND_TIMEOUT_SECONDS",
    "HTTP_MAX_HEADER_BYTES",
    "HTTP_MAX_CONNECTIONS",
    "HTTP_MAX_CONNECTIONS_PER_CLIENT",
    "WORKER_THREADS",
];

fn app_json() -> Value {
    serde_json::from_str(&read("app.json")).expect("app.json is JSON")
}

#[test]
fn app_json_has_only_fields_of_herokus_schema_with_the_right_types() {
    let app = app_json();
    let top = app.as_object().expect("an object");
    let known = [
        "name",
        "description",
        "keywords",
        "website",
        "repository",
        "logo",
        "success_url",
        "scripts",
        "env",
        "formation",
        "addons",
        "buildpacks",
        "environments",
        "stack",
        "image",
    ];
    for key in top.keys() {
        assert!(
            known.contains(&key.as_str()),
            "app.json: unknown top-level key {key}"
        );
    }
    for key in ["name", "description", "success_url", "stack"] {
        assert!(top[key].is_string(), "{key} must be a string");
    }
    assert!(
        top["name"].as_str().unwrap().len() <= 30,
        "Heroku limits name to 30 characters"
    );
    assert!(
        top["keywords"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string)
    );
    assert!(top["success_url"].as_str().unwrap().starts_with('/'));
    for pack in top["buildpacks"].as_array().expect("buildpacks") {
        assert!(
            pack["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "{pack}"
        );
    }
    for (kind, process) in top["formation"].as_object().expect("formation") {
        assert!(process["quantity"].is_u64(), "{kind}");
        let size = process["size"].as_str().unwrap();
        assert!(
            ["eco", "basic", "standard-1x", "standard-2x"].contains(&size),
            "{kind}: {size}"
        );
    }
    let plans: Vec<&str> = top["addons"]
        .as_array()
        .expect("addons")
        .iter()
        .map(|a| {
            a.as_str()
                .or_else(|| a["plan"].as_str())
                .expect("addon plan")
        })
        .collect();
    assert!(
        plans.contains(&"heroku-postgresql:essential-0"),
        "{plans:?}"
    );
    assert!(plans.contains(&"memcachier:dev"), "{plans:?}");
    for (name, spec) in top["env"].as_object().expect("env") {
        let spec = spec
            .as_object()
            .unwrap_or_else(|| panic!("{name}: an object"));
        for key in spec.keys() {
            assert!(
                ["description", "value", "required", "generator"].contains(&key.as_str()),
                "{name}.{key}"
            );
        }
        assert!(
            spec["description"].as_str().is_some_and(|d| d.len() > 10),
            "{name} needs a description"
        );
        if let Some(value) = spec.get("value") {
            assert!(value.is_string(), "{name}.value must be a string");
        }
        if let Some(required) = spec.get("required") {
            assert!(required.is_boolean(), "{name}.required must be a boolean");
        }
        if let Some(generator) = spec.get("generator") {
            assert_eq!(generator, "secret", "{name}");
        }
    }
}

#[test]
fn secrets_are_generated_and_the_essentials_are_prompted() {
    let env = app_json()["env"].clone();
    for secret in ["ADMIN_PASSWORD", "WEBHOOK_SECRET", "TOKEN_ENCRYPTION_KEY"] {
        assert_eq!(env[secret]["generator"], "secret", "{secret}");
    }
    assert_eq!(env["ALLOWED_DOMAINS"]["required"], true);
    assert_eq!(
        env["STARTING_TOKEN"]["required"], false,
        "connect makes it optional"
    );
}

#[test]
fn every_variable_the_code_reads_is_documented_or_internal() {
    let env = app_json()["env"].clone();
    let readme = read("README.md");
    for var in variables_the_code_reads() {
        let in_app_json = env.get(&var).is_some();
        let internal = INTERNAL.contains(&var.as_str());
        assert!(
            in_app_json || internal,
            "{var} is read by the code but neither in app.json nor internal"
        );
        assert!(
            readme.contains(&format!("`{var}`")),
            "{var} is not in the README's configuration table"
        );
    }
    for var in env.as_object().unwrap().keys() {
        assert!(
            variables_the_code_reads().contains(var) || var == "RUST_LOG",
            "app.json documents {var}, which the code does not read"
        );
    }
}

#[test]
fn the_procfile_runs_real_sub_commands() {
    let procfile = read("Procfile");
    let mut kinds = BTreeSet::new();
    for line in procfile.lines().filter(|l| !l.trim().is_empty()) {
        let (kind, command) = line.split_once(':').expect("kind: command");
        kinds.insert(kind.trim().to_string());
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_token-agent"))
            .args(command.split_whitespace().skip(1))
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(
        kinds,
        BTreeSet::from(["release".to_string(), "web".to_string()])
    );
}
