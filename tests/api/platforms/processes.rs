//! The platforms as processes: a Heroku dyno, docker-compose's agent, the
//! image's user and volume rules, the health check.

use super::files::{compose_agent_environment, dockerfile_env, interpolate};
use super::*;

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
