//! `TestCluster`: several real servers on one fresh PostgreSQL database, joined by a Redis
//! Streams bus when given one (PROTOCOL.md section 7).
//!
//! ```ignore
//! let redis = RedisServer::start();
//! let cluster = TestCluster::builder()
//!     .nodes(3)
//!     .bus(redis.url())
//!     .settings(|s| s.catchup_batch(50))
//!     .start()
//!     .await;
//! let ids = cluster.node(0).ingest_ids(&numbered("general", "alice", "m", 10)).await;
//! cluster.node(2).wait_total_messages(10, WAIT).await;
//! ```
use std::sync::Arc;

use futures_util::future::join_all;

use crate::app::{TestApp, TestDatabase};
use crate::server::ServerSettings;
use crate::services::{delete_bus_keys, PgDatabase};

type Configure = Arc<dyn Fn(usize, ServerSettings) -> ServerSettings + Send + Sync>;

/// What a [`TestCluster`] is started with.
#[derive(Clone)]
pub struct ClusterBuilder {
    nodes: usize,
    bus: Option<String>,
    configure: Vec<Configure>,
}

impl ClusterBuilder {
    /// How many nodes (default 2).
    pub fn nodes(mut self, n: usize) -> Self {
        assert!(n >= 1, "a cluster has at least one node");
        self.nodes = n;
        self
    }

    /// Every node runs with `--bus <url>`; the cluster deletes its database's keys there
    /// when dropped. Without it the nodes share only the database.
    pub fn bus(mut self, url: impl Into<String>) -> Self {
        self.bus = Some(url.into());
        self
    }

    /// Settings every node gets: `.settings(|s| s.catchup_batch(50).expect_errors())`.
    pub fn settings(self, f: impl Fn(ServerSettings) -> ServerSettings + Send + Sync + 'static) -> Self {
        self.node_settings(move |_, s| f(s))
    }

    /// Settings by node index: `.node_settings(|i, s| if i == 0 { s.db_pool(1) } else { s })`.
    pub fn node_settings(
        mut self,
        f: impl Fn(usize, ServerSettings) -> ServerSettings + Send + Sync + 'static,
    ) -> Self {
        self.configure.push(Arc::new(f));
        self
    }

    /// The settings of node `i`: the test's, then `--database`, `--node-id node-<i>` and
    /// `--bus`.
    fn settings_of(&self, i: usize, db: &PgDatabase) -> ServerSettings {
        let mut s = TestApp::builder();
        for f in &self.configure {
            s = f(i, s);
        }
        s = s.database_url(db.url()).node_id(&format!("node-{i}"));
        if let Some(bus) = &self.bus {
            s = s.bus(bus.clone());
        }
        s
    }

    /// Creates the database, spawns every node at the same moment, then waits until all
    /// of them answer `/healthz`.
    pub async fn start(self) -> TestCluster {
        let db = PgDatabase::create();
        let settings: Vec<ServerSettings> = (0..self.nodes).map(|i| self.settings_of(i, &db)).collect();
        // join_all polls every start once before any waits: each spawns its process in
        // that first poll, so all nodes start together on the empty database.
        let nodes = join_all(settings.into_iter().map(|s| TestApp::launch(s, TestDatabase::Given))).await;
        let epoch = match &self.bus {
            Some(_) => nodes[0].api.try_epoch().await,
            None => None,
        };
        TestCluster {
            nodes,
            bus: self.bus,
            epoch,
            db,
        }
    }
}

/// N servers on one PostgreSQL database. Each node is a [`TestApp`] (HTTP and live
/// clients, `kill9`, `restart`, `log_tail`, ...); dropping the cluster checks every node's
/// log for errors, kills them, deletes the bus keys and then drops the database.
pub struct TestCluster {
    // Dropped in this order: the nodes, then the database.
    nodes: Vec<TestApp>,
    bus: Option<String>,
    epoch: Option<String>,
    db: PgDatabase,
}

impl TestCluster {
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            nodes: 2,
            bus: None,
            configure: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i` (its id is `node-<i>`).
    pub fn node(&self, i: usize) -> &TestApp {
        &self.nodes[i]
    }

    pub fn node_mut(&mut self, i: usize) -> &mut TestApp {
        &mut self.nodes[i]
    }

    pub fn nodes(&self) -> &[TestApp] {
        &self.nodes
    }

    /// SIGKILL node `i`.
    pub fn kill9(&mut self, i: usize) {
        self.nodes[i].kill9();
    }

    /// Starts node `i` again with its flags on the shared database (a new port); SIGTERMs
    /// it first if it still runs.
    pub async fn restart(&mut self, i: usize) {
        self.nodes[i].restart().await;
    }

    /// The shared database.
    pub fn database(&self) -> &PgDatabase {
        &self.db
    }

    pub fn database_url(&self) -> String {
        self.db.url()
    }

    pub fn bus_url(&self) -> Option<&str> {
        self.bus.as_deref()
    }

    /// The epoch of the shared database, learnt at start when there is a bus.
    pub fn epoch(&self) -> Option<&str> {
        self.epoch.as_deref()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // Each node's own drop kills it and checks its log; then the keys, then the database.
        let nodes = std::mem::take(&mut self.nodes);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(nodes)));
        if let (Some(url), Some(epoch)) = (self.bus.as_deref(), self.epoch.as_deref()) {
            delete_bus_keys(url, epoch);
        }
        if let Err(panic) = result {
            // `self.db` still drops (and the database goes) while this unwinds.
            std::panic::resume_unwind(panic);
        }
    }
}
