//! The deploy files (the Heroku button, app.json, the Dockerfile,
//! docker-compose.yml, render.yaml, fly.toml) against what the code does.

use super::*;

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
pub(super) fn dockerfile() -> Vec<(String, String)> {
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

pub(super) fn dockerfile_env() -> BTreeMap<String, String> {
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

pub(super) fn compose_agent_environment(compose: &Yaml) -> BTreeMap<String, String> {
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
pub(super) fn interpolate(value: &str, given: &BTreeMap<&str, &str>) -> String {
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
