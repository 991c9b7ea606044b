//! The real object stores the off-site tests talk to: Garage (an S3-compatible production
//! store, built by scripts/setup.sh into the tool cache) and Azurite (Microsoft's Blob Storage
//! emulator, from npm). Each server is a process of this test binary's own, on free ports, with
//! its data in a temp folder; it dies with the test process (PDEATHSIG). A test that needs one
//! and cannot start it fails; it never passes silently.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The key the tests import into Garage (its format: `GK` + 24 hex, and 64 hex).
pub const S3_KEY_ID: &str = "GK0123456789abcdef01234567";
pub const S3_SECRET: &str = "5c1b1e1f6cfd2ab1c83b0d6a9f3e8a4e1b2c3d4e5f60718293a4b5c6d7e8f901";
pub const S3_BUCKET: &str = "hrsm-offsite";
/// Azurite's well-known development account.
pub const AZ_ACCOUNT: &str = "devstoreaccount1";
pub const AZ_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const AZ_CONTAINER: &str = "hrsm-offsite";

fn tool(env: &str, cached: &str) -> PathBuf {
    let p = std::env::var(env).map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/hrsm-tools").join(cached)
    });
    assert!(p.exists(), "no {} here: run scripts/test (it installs it into the tool cache) or set {env}", p.display());
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server process that dies with this test process. It is started from a thread of its own
/// that lives as long as the server: PDEATHSIG fires when the thread that started the child
/// ends, not the process, so a server restarted from a short-lived test thread would die with it.
pub struct Tied {
    pid: u32,
    ended: std::sync::mpsc::Receiver<()>,
}

fn spawn_tied(mut cmd: Command) -> Tied {
    let (tx, rx) = std::sync::mpsc::channel();
    let (ended_tx, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: prctl in the forked child before exec, no allocation.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child: Child = cmd.spawn().unwrap();
        tx.send(child.id()).unwrap();
        let _ = child.wait();
        let _ = ended_tx.send(());
    });
    Tied { pid: rx.recv().unwrap(), ended }
}

impl Tied {
    /// Kills it (SIGKILL: a crash) and waits until it is gone.
    fn kill(&self) {
        // SAFETY: a signal to our own child's pid.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGKILL);
        }
        let _ = self.ended.recv_timeout(Duration::from_secs(10));
    }
}

fn wait_port(port: u16, what: &str, log: &Path) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start: {}", fs::read_to_string(log).unwrap_or_default());
}

/// One Garage node: one zone, one bucket, one key with rights on it.
pub struct Garage {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Tied>,
    bin: PathBuf,
}

impl Garage {
    pub fn start() -> Garage {
        let bin = tool("HRSM_GARAGE", "bin/garage");
        let dir = tempfile::Builder::new().prefix("hrsm-garage-").tempdir().unwrap();
        let (port, rpc) = (free_port(), free_port());
        fs::write(
            dir.path().join("garage.toml"),
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"lmdb\"\nreplication_factor = 1\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_secret = \"{secret}\"\n[s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{port}\"\n",
                d = dir.path().display(),
                secret = "ab".repeat(32),
            ),
        )
        .unwrap();
        let mut g = Garage { dir, port, child: None, bin };
        g.run_server();
        let node = g.cli(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().unwrap().to_string();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        g.cli(&["layout", "apply", "--version", "1"]);
        g.cli(&["key", "import", "--yes", "-n", "hrsm-test", S3_KEY_ID, S3_SECRET]);
        g.cli(&["bucket", "create", S3_BUCKET]);
        g.cli(&["bucket", "allow", "--read", "--write", "--owner", S3_BUCKET, "--key", "hrsm-test"]);
        g
    }

    fn run_server(&mut self) {
        let log = self.dir.path().join("log");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::options().append(true).open(&log).unwrap());
        let child = spawn_tied(cmd);
        self.child = Some(child);
        wait_port(self.port, "Garage", &log);
    }

    /// A `garage` admin command; panics with its output when it fails (the node may need a
    /// moment after start, so it is tried a few times).
    pub fn cli(&self, args: &[&str]) -> String {
        let mut last = String::new();
        for _ in 0..50 {
            let o = Command::new(&self.bin)
                .arg("-c")
                .arg(self.dir.path().join("garage.toml"))
                .args(args)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap();
            if o.status.success() {
                return String::from_utf8_lossy(&o.stdout).into_owned();
            }
            last = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("garage {args:?} failed: {last}");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server (a crash, a pulled cable) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(c) = self.child.take() {
            c.kill();
        }
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.run_server();
    }

    /// An `[[offsite]]` table for this server.
    pub fn offsite_toml(&self, name: &str, extra: &str) -> String {
        format!(
            "[[offsite]]\nname = \"{name}\"\nkind = \"s3\"\nendpoint = \"{}\"\nregion = \"garage\"\nbucket = \"{S3_BUCKET}\"\n{extra}\n",
            self.endpoint()
        )
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One Azurite blob service with its container created.
pub struct Azurite {
    _dir: tempfile::TempDir,
    pub port: u16,
    child: Tied,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.child.kill();
    }
}

impl Azurite {
    pub fn start() -> Azurite {
        let bin = tool("HRSM_AZURITE", "azurite/node_modules/.bin/azurite-blob");
        let dir = tempfile::Builder::new().prefix("hrsm-azurite-").tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("log");
        let mut cmd = Command::new(bin);
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--silent", "--disableTelemetry"])
            .arg("--skipApiVersionCheck")
            .arg("--location")
            .arg(dir.path().join("data"))
            .stdout(fs::File::create(&log).unwrap())
            .stderr(Stdio::null());
        let child = spawn_tied(cmd);
        wait_port(port, "Azurite", &log);
        let a = Azurite { _dir: dir, port, child };
        a.create_container(AZ_CONTAINER);
        a
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{AZ_ACCOUNT}", self.port)
    }

    /// Containers are made by the storage admin, not by a backup program (object_store has no
    /// call for it): the tests make theirs with Azure's own Python library.
    fn create_container(&self, name: &str) {
        let cs = format!(
            "DefaultEndpointsProtocol=http;AccountName={AZ_ACCOUNT};AccountKey={AZ_KEY};BlobEndpoint={};",
            self.endpoint()
        );
        let o = Command::new("python3")
            .args([
                "-c",
                "import sys; from azure.storage.blob import BlobServiceClient as B; B.from_connection_string(sys.argv[1]).create_container(sys.argv[2])",
                &cs,
                name,
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "cannot create the container: {}", String::from_utf8_lossy(&o.stderr));
    }

    pub fn offsite_toml(&self, name: &str) -> String {
        format!(
            "[[offsite]]\nname = \"{name}\"\nkind = \"azure\"\naccount = \"{AZ_ACCOUNT}\"\nendpoint = \"{}\"\ncontainer = \"{AZ_CONTAINER}\"\n",
            self.endpoint()
        )
    }
}
