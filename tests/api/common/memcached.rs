//! memcached processes owned by one test each.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct Memcached {
    child: Option<Child>,
    port: u16,
    /// Holds the SASL config and database while the server runs.
    sasl_dir: Option<TempDir>,
}

impl Memcached {
    pub fn start() -> Memcached {
        Memcached::start_with(None)
    }

    /// A server that requires SASL PLAIN, with these users.
    pub fn start_sasl(users: &[(&str, &str)]) -> Memcached {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sasldb2");
        std::fs::write(
            dir.path().join("memcached.conf"),
            format!("mech_list: plain\nsasldb_path: {}\n", db.display()),
        )
        .unwrap();
        for (user, password) in users {
            add_sasl_user(&db, user, password);
        }
        Memcached::start_with(Some(dir))
    }

    fn start_with(sasl_dir: Option<TempDir>) -> Memcached {
        let mut server = Memcached {
            child: None,
            port: 0,
            sasl_dir,
        };
        // Another process may take the free port before memcached does.
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn() {
                return server;
            }
        }
        panic!("memcached did not start on any of 5 free ports");
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A plain client straight to the server, bypassing the cache.
    pub fn raw_client(&self) -> memcache::Client {
        memcache::connect(format!("memcache://{}?timeout=1", self.addr())).unwrap()
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "memcached did not restart on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs memcached and waits until it accepts connections; false if
    /// it exited (port taken).
    fn spawn(&mut self) -> bool {
        let mut command = Command::new(memcached_binary());
        // `-u` matters only when running as root, as in some containers.
        command
            .args(["-u", "root", "-l", "127.0.0.1", "-U", "0", "-m", "16", "-p"])
            .arg(self.port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(dir) = &self.sasl_dir {
            command.arg("-S").env("SASL_CONF_PATH", dir.path());
        }
        let mut child = command.spawn().expect("cannot run memcached");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.child = Some(child);
                return true;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("memcached did not listen on {} within 5 s", self.port);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        self.kill();
    }
}

fn memcached_binary() -> PathBuf {
    let path = std::env::var_os("MEMCACHED_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/memcached"));
    assert!(
        path.exists(),
        "{} not found: these tests need a real memcached; install it with \
         `apt-get install memcached` (or set MEMCACHED_BIN)",
        path.display()
    );
    path
}

fn add_sasl_user(db: &Path, user: &str, password: &str) {
    let binary = ["/usr/sbin/saslpasswd2", "/usr/bin/saslpasswd2"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect(
            "saslpasswd2 not found: the SASL tests need it; install it with \
             `apt-get install sasl2-bin`",
        );
    let mut child = Command::new(binary)
        .args(["-p", "-a", "memcached", "-c", "-f"])
        .arg(db)
        .arg(user)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    // -p reads the password from stdin, without a prompt or newline.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "saslpasswd2 failed");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An address where nothing listens.
pub fn closed_port() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// An address that accepts connections and never answers.
pub fn blackhole_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    addr
}
