//! Fabric topologies: built in code or read from an ibsim netfile, written as an ibsim netfile.
//!
//! # The netfile format (ibsim 0.10, `ibsim/sim_net.c`)
//!
//! ```text
//! Switch  36 "L01"
//! [1]     "H0001"[1]      w=2 s=4
//! [19]    "S01"[1]
//!
//! Hca     1 "H0001"
//! [1]     "L01"[1]        w=2 s=4
//! ```
//!
//! A record is a header line `Switch|Hca|Ca|Rt <ports> "<name>"` followed by one line per
//! connected port, `[<local port>] "<remote name>"[<remote port>] [options]`, and ends at the first
//! line that starts with neither `[` nor `@`. Every link is listed on both of its ends.
//!
//! Per-port options set what the port *enables*; the active value of a link is the best one both ends
//! enable, so this module writes the same options on both ends:
//! - `w=MASK`: LinkWidthEnabled bit mask, 1..=31: 1 = 1x, 2 = 4x, 4 = 8x, 8 = 12x, 16 = 2x
//!   (the comment in ibsim's example file, `w=(1|4|12)`, is misleading: the value is a mask);
//! - `s=MASK`: LinkSpeedEnabled bit mask, 1..=7: 1 = SDR, 2 = DDR, 4 = QDR;
//! - `e=MASK`: LinkSpeedExtEnabled bit mask, 0..=7: 1 = FDR, 2 = EDR, 4 = HDR.
//!
//! Without options a port enables 4x (actually 1x|4x) at SDR. ibsim's parser also logs a harmless
//! "cannot parse remote lid and connection type" warning for every port line without ibnetdiscover's
//! `lid N 4xQDR` suffix, which is every line this module writes.
//!
//! Limits (`ibsim/sim.h`): 2048 nodes (switches included), 256 switches, 13,312 ports in all,
//! 16 hops for LID-routed packets, node names of at most 64 bytes. ibsim can raise the first three with
//! `-N`, `-S`, `-P`; this module keeps to the defaults.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// ibsim's default node limit (switches included).
pub const MAX_NODES: usize = 2048;
/// ibsim's default switch limit.
pub const MAX_SWITCHES: usize = 256;
/// ibsim's default port limit (`256 * 36 + 2048 * 2`), counting a switch's port 0.
pub const MAX_PORTS: usize = MAX_SWITCHES * 36 + MAX_NODES * 2;
/// The radix of the switches the generators build (a common 36-port switch ASIC).
pub const SWITCH_RADIX: u8 = 36;
/// ibsim drops LID-routed packets after this many hops.
pub const MAX_HOPS: usize = 16;
/// Longest node name ibsim keeps (NODEIDLEN - 1).
pub const MAX_NAME_LEN: usize = 64;

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// A switch (has a management port 0 besides its external ports).
    Switch,
    /// A channel adapter (`Hca` or `Ca` in the netfile).
    Hca,
    /// A router (`Rt`), only seen in netfiles read from disk.
    Router,
}

impl NodeKind {
    fn keyword(self) -> &'static str {
        match self {
            NodeKind::Switch => "Switch",
            NodeKind::Hca => "Hca",
            NodeKind::Router => "Rt",
        }
    }
}

/// Index of a node in a [`Topology`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(usize);

impl NodeId {
    /// Position of the node in [`Topology::nodes`].
    pub fn index(self) -> usize {
        self.0
    }
}

/// A node of a topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its unique name: the netfile's node id, the `SIM_HOST` that attaches to it, and its
    /// NodeDescription as the SA reports it.
    pub name: String,
    /// Switch, HCA or router.
    pub kind: NodeKind,
    /// Number of external ports (1..=255).
    pub ports: u8,
}

/// A LinkWidthEnabled value (one width; see [`LinkOptions::width_mask`] for combinations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkWidth {
    /// 1x.
    X1,
    /// 2x.
    X2,
    /// 4x.
    X4,
    /// 8x.
    X8,
    /// 12x.
    X12,
}

impl LinkWidth {
    /// The LinkWidthEnabled bit of this width.
    pub fn mask(self) -> u8 {
        match self {
            LinkWidth::X1 => 1,
            LinkWidth::X4 => 2,
            LinkWidth::X8 => 4,
            LinkWidth::X12 => 8,
            LinkWidth::X2 => 16,
        }
    }
}

/// A LinkSpeedEnabled value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkSpeed {
    /// 2.5 Gb/s per lane.
    Sdr,
    /// 5 Gb/s per lane.
    Ddr,
    /// 10 Gb/s per lane.
    Qdr,
}

impl LinkSpeed {
    /// The LinkSpeedEnabled bit of this speed.
    pub fn mask(self) -> u8 {
        match self {
            LinkSpeed::Sdr => 1,
            LinkSpeed::Ddr => 2,
            LinkSpeed::Qdr => 4,
        }
    }
}

/// A LinkSpeedExtEnabled value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtLinkSpeed {
    /// 14 Gb/s per lane.
    Fdr,
    /// 25 Gb/s per lane.
    Edr,
    /// 50 Gb/s per lane.
    Hdr,
}

impl ExtLinkSpeed {
    /// The LinkSpeedExtEnabled bit of this speed.
    pub fn mask(self) -> u8 {
        match self {
            ExtLinkSpeed::Fdr => 1,
            ExtLinkSpeed::Edr => 2,
            ExtLinkSpeed::Hdr => 4,
        }
    }
}

/// Per-link options, written as `w=`, `s=`, `e=` on both ends of the link. `None` leaves ibsim's
/// default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LinkOptions {
    /// LinkWidthEnabled mask (1..=31), `w=`.
    pub width_mask: Option<u8>,
    /// LinkSpeedEnabled mask (1..=7), `s=`.
    pub speed_mask: Option<u8>,
    /// LinkSpeedExtEnabled mask (0..=7), `e=`.
    pub ext_speed_mask: Option<u8>,
}

impl LinkOptions {
    /// No options: ibsim's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enables exactly this width.
    pub fn width(mut self, width: LinkWidth) -> Self {
        self.width_mask = Some(width.mask());
        self
    }

    /// Enables exactly this speed.
    pub fn speed(mut self, speed: LinkSpeed) -> Self {
        self.speed_mask = Some(speed.mask());
        self
    }

    /// Enables exactly this extended speed.
    pub fn ext_speed(mut self, speed: ExtLinkSpeed) -> Self {
        self.ext_speed_mask = Some(speed.mask());
        self
    }

    /// True when no option is set.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    fn validate(&self) -> Result<()> {
        if let Some(w) = self.width_mask {
            if !(1..=31).contains(&w) {
                return Err(Error::Topology(format!("width mask {w} not in 1..=31")));
            }
        }
        if let Some(s) = self.speed_mask {
            if !(1..=7).contains(&s) {
                return Err(Error::Topology(format!("speed mask {s} not in 1..=7")));
            }
        }
        if let Some(e) = self.ext_speed_mask {
            if e > 7 {
                return Err(Error::Topology(format!("extended speed mask {e} not in 0..=7")));
            }
        }
        Ok(())
    }

    fn write_netfile(&self, out: &mut String) {
        if let Some(w) = self.width_mask {
            let _ = write!(out, "\tw={w}");
        }
        if let Some(s) = self.speed_mask {
            let _ = write!(out, "\ts={s}");
        }
        if let Some(e) = self.ext_speed_mask {
            let _ = write!(out, "\te={e}");
        }
    }
}

/// A link between two ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// One end: node and port.
    pub a: (NodeId, u8),
    /// The other end: node and port.
    pub b: (NodeId, u8),
    /// Width and speed options.
    pub options: LinkOptions,
}

/// Shape of a generated two-level fat tree (see [`Topology::fat_tree_with`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FatTreeShape {
    /// Number of HCAs.
    pub hcas: usize,
    /// HCAs per leaf switch (the last leaf may have fewer).
    pub down_ports: u8,
    /// Uplinks per leaf switch; one to each spine, so also the number of spines.
    pub spines: u8,
    /// Number of leaf switches.
    pub leaves: usize,
}

impl FatTreeShape {
    /// The shape [`Topology::fat_tree`] builds for `hcas` HCAs with `radix`-port switches.
    ///
    /// - Full bisection (as many uplinks as down ports) while `hcas <= radix * radix / 2`: `k = min(radix
    ///   / 2, ceil(hcas / 2))` down ports per leaf (so there are at least two leaves and every path
    ///   between leaves crosses a spine), `k` spines.
    /// - Above that, oversubscribed: `k = ceil(hcas / radix)` down ports, `radix - k` spines, at most
    ///   `radix` leaves. Works up to `radix * (radix - 1)` HCAs (1260 with 36 ports).
    ///
    /// For 36-port switches: 16 HCAs = 2 leaves x 8 + 8 spines; 64 = 4 x 18 + 18; 128 = 8 x 18 + 18;
    /// 512 = 29 x 18 + 18; 1024 = 36 x 29 + 7.
    pub fn auto(hcas: usize, radix: u8) -> Result<Self> {
        let r = usize::from(radix);
        if hcas == 0 {
            return Err(Error::Topology("a fat tree needs at least one HCA".into()));
        }
        if r < 2 {
            return Err(Error::Topology(format!("switch radix {radix} too small")));
        }
        let (k, spines) = if hcas <= r * r / 2 {
            let k = (r / 2).min(hcas.div_ceil(2)).max(1);
            (k, k)
        } else if hcas <= r * (r - 1) {
            let k = hcas.div_ceil(r);
            (k, r - k)
        } else {
            return Err(Error::Topology(format!(
                "{hcas} HCAs do not fit a two-level fat tree of {radix}-port switches (max {})",
                r * (r - 1)
            )));
        };
        let shape = FatTreeShape {
            hcas,
            down_ports: u8::try_from(k).map_err(|_| Error::Topology("too many down ports".into()))?,
            spines: u8::try_from(spines).map_err(|_| Error::Topology("too many spines".into()))?,
            leaves: hcas.div_ceil(k),
        };
        Ok(shape)
    }

    /// Number of switches (leaves and spines).
    pub fn switches(&self) -> usize {
        self.leaves + usize::from(self.spines)
    }
}

/// A fabric topology: nodes and the links between their ports.
///
/// Build one in code ([`Topology::new`], [`add_switch`](Topology::add_switch),
/// [`add_hca`](Topology::add_hca), [`link`](Topology::link)), generate one ([`star`](Topology::star),
/// [`fat_tree`](Topology::fat_tree)) or read a netfile ([`from_file`](Topology::from_file)); write it
/// with [`to_netfile`](Topology::to_netfile).
#[derive(Clone, Debug, Default)]
pub struct Topology {
    nodes: Vec<Node>,
    links: Vec<Link>,
    by_name: HashMap<String, NodeId>,
    /// (node, port) -> index in `links`, both ends.
    ports: HashMap<(NodeId, u8), usize>,
    /// For topologies read from disk: the file ibsim should read (it may use `include`, `do`, aliases
    /// and ibnetdiscover annotations that `to_netfile` does not reproduce).
    source: Option<PathBuf>,
}

impl Topology {
    /// An empty topology.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a switch with `ports` external ports (1..=255; real ones have 36).
    pub fn add_switch(&mut self, name: &str, ports: u8) -> Result<NodeId> {
        self.add_node(name, NodeKind::Switch, ports)
    }

    /// Adds an HCA with `ports` ports (usually 1).
    pub fn add_hca(&mut self, name: &str, ports: u8) -> Result<NodeId> {
        self.add_node(name, NodeKind::Hca, ports)
    }

    /// Adds a node of any kind.
    pub fn add_node(&mut self, name: &str, kind: NodeKind, ports: u8) -> Result<NodeId> {
        validate_name(name)?;
        if ports == 0 {
            return Err(Error::Topology(format!("node {name:?} needs at least one port")));
        }
        if self.by_name.contains_key(name) {
            return Err(Error::Topology(format!("duplicate node name {name:?}")));
        }
        let id = NodeId(self.nodes.len());
        self.nodes.push(Node { name: name.to_string(), kind, ports });
        self.by_name.insert(name.to_string(), id);
        self.source = None;
        Ok(id)
    }

    /// Links port `pa` of `a` to port `pb` of `b`.
    pub fn link(&mut self, a: NodeId, pa: u8, b: NodeId, pb: u8, options: LinkOptions) -> Result<()> {
        options.validate()?;
        for (n, p) in [(a, pa), (b, pb)] {
            let node = self.nodes.get(n.0).ok_or_else(|| Error::Topology(format!("no node {n:?}")))?;
            if p == 0 || p > node.ports {
                return Err(Error::Topology(format!("{} has no port {p}", node.name)));
            }
            if self.peer(n, p).is_some() {
                return Err(Error::Topology(format!("port {} [{p}] is already linked", node.name)));
            }
        }
        if a == b && pa == pb {
            return Err(Error::Topology("a port cannot be linked to itself".into()));
        }
        self.ports.insert((a, pa), self.links.len());
        self.ports.insert((b, pb), self.links.len());
        self.links.push(Link { a: (a, pa), b: (b, pb), options });
        self.source = None;
        Ok(())
    }

    /// Links the lowest free port of `a` to the lowest free port of `b`; returns the two port numbers.
    pub fn connect(&mut self, a: NodeId, b: NodeId, options: LinkOptions) -> Result<(u8, u8)> {
        let pa = self.free_port(a)?;
        let pb = if a == b {
            (pa + 1..=self.node(b).ports)
                .find(|&p| self.peer(b, p).is_none())
                .ok_or_else(|| Error::Topology(format!("{} has no free port", self.node(b).name)))?
        } else {
            self.free_port(b)?
        };
        self.link(a, pa, b, pb, options)?;
        Ok((pa, pb))
    }

    fn free_port(&self, n: NodeId) -> Result<u8> {
        let node = self.nodes.get(n.0).ok_or_else(|| Error::Topology(format!("no node {n:?}")))?;
        (1..=node.ports)
            .find(|&p| self.peer(n, p).is_none())
            .ok_or_else(|| Error::Topology(format!("{} has no free port", node.name)))
    }

    /// Sets the options of every link.
    pub fn set_all_link_options(&mut self, options: LinkOptions) -> Result<()> {
        options.validate()?;
        for l in &mut self.links {
            l.options = options;
        }
        self.source = None;
        Ok(())
    }

    /// Sets the options of the link at `node`'s port `port`.
    pub fn set_link_options(&mut self, node: &str, port: u8, options: LinkOptions) -> Result<()> {
        options.validate()?;
        let id = self.id(node).ok_or_else(|| Error::Topology(format!("no node {node:?}")))?;
        let &i = self
            .ports
            .get(&(id, port))
            .ok_or_else(|| Error::Topology(format!("{node}[{port}] is not linked")))?;
        self.links[i].options = options;
        self.source = None;
        Ok(())
    }

    /// The node and port linked to `node`'s port `port`.
    pub fn peer(&self, node: NodeId, port: u8) -> Option<(NodeId, u8)> {
        let l = &self.links[*self.ports.get(&(node, port))?];
        Some(if l.a == (node, port) { l.b } else { l.a })
    }

    /// The node with this id. Panics on an id of another topology.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    /// The id of the node named `name`.
    pub fn id(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    /// All nodes in file order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// All links.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Names of all nodes in file order.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Names of the HCAs in file order (for generated topologies: `H0001`, `H0002`, ...).
    pub fn hcas(&self) -> Vec<String> {
        self.names_of(NodeKind::Hca)
    }

    /// Names of the switches in file order.
    pub fn switches(&self) -> Vec<String> {
        self.names_of(NodeKind::Switch)
    }

    fn names_of(&self, kind: NodeKind) -> Vec<String> {
        self.nodes.iter().filter(|n| n.kind == kind).map(|n| n.name.clone()).collect()
    }

    /// True if a node is named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The netfile this topology was read from, if it was and has not been changed since.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// One switch `S01` of 36 ports with `n_hcas` HCAs `H0001`... on ports 1..=n.
    ///
    /// Above 36 HCAs this becomes a tree of 36-port switches: leaves `L01`... carry 35 HCAs each and
    /// one uplink; leaves are grouped 35 at a time under the next level `S01`..., and so on until one
    /// root switch remains (3 levels for 2048 nodes, well under ibsim's 16 hops).
    pub fn star(n_hcas: usize) -> Result<Self> {
        if n_hcas == 0 {
            return Err(Error::Topology("a star needs at least one HCA".into()));
        }
        let mut t = Topology::new();
        let hcas = t.add_hcas(n_hcas)?;
        let radix = SWITCH_RADIX;
        if n_hcas <= usize::from(radix) {
            let s = t.add_switch("S01", radix)?;
            for h in hcas {
                t.connect(s, h, LinkOptions::new())?;
            }
            t.check_limits()?;
            return Ok(t);
        }
        // Tree: every level groups `radix - 1` children under one parent.
        let per = usize::from(radix) - 1;
        let leaves = n_hcas.div_ceil(per);
        let lw = digits(leaves).max(2);
        let mut level: Vec<NodeId> = Vec::new();
        for (i, chunk) in hcas.chunks(per).enumerate() {
            let l = t.add_switch(&format!("L{:0lw$}", i + 1), radix)?;
            for &h in chunk {
                t.connect(l, h, LinkOptions::new())?;
            }
            level.push(l);
        }
        // Upper levels: count them first so names can be numbered with a fixed width.
        let mut upper = 0;
        let mut width = leaves;
        while width > 1 {
            width = width.div_ceil(per);
            upper += width;
        }
        let sw = digits(upper).max(2);
        let mut next_name = 1;
        while level.len() > 1 {
            let mut parents = Vec::new();
            for chunk in level.chunks(per) {
                let p = t.add_switch(&format!("S{next_name:0sw$}"), radix)?;
                next_name += 1;
                for &c in chunk {
                    // Children keep their low ports for what hangs below them.
                    t.connect(p, c, LinkOptions::new())?;
                }
                parents.push(p);
            }
            level = parents;
        }
        t.check_limits()?;
        Ok(t)
    }

    /// A two-level fat tree of `n_hcas` HCAs built from 36-port switches, shaped by
    /// [`FatTreeShape::auto`]: leaves `L01`... with the HCAs `H0001`... on their low ports and one
    /// uplink to each spine `S01`... on the following ports. Any size up to 1260 HCAs.
    pub fn fat_tree(n_hcas: usize) -> Result<Self> {
        Self::fat_tree_with(FatTreeShape::auto(n_hcas, SWITCH_RADIX)?)
    }

    /// A two-level fat tree of an explicit shape. Leaf `j` has HCAs on ports `1..=down_ports` and
    /// spine `i` on port `down_ports + i`; spine `i` has leaf `j` on port `j`. Switches are declared with
    /// 36 ports, or more when the shape needs more (`down_ports + spines` for leaves, `leaves` for
    /// spines; ibsim accepts up to 255).
    pub fn fat_tree_with(shape: FatTreeShape) -> Result<Self> {
        let k = usize::from(shape.down_ports);
        let spines = usize::from(shape.spines);
        if shape.hcas == 0 || k == 0 || spines == 0 {
            return Err(Error::Topology(format!("degenerate fat tree {shape:?}")));
        }
        if shape.leaves != shape.hcas.div_ceil(k) {
            return Err(Error::Topology(format!("{shape:?}: leaves must be ceil(hcas / down_ports)")));
        }
        let leaf_ports = k + spines;
        let leaf_radix = u8::try_from(leaf_ports.max(usize::from(SWITCH_RADIX)))
            .map_err(|_| Error::Topology(format!("{leaf_ports} ports per leaf exceed 255")))?;
        let spine_radix = u8::try_from(shape.leaves.max(usize::from(SWITCH_RADIX)))
            .map_err(|_| Error::Topology(format!("{} ports per spine exceed 255", shape.leaves)))?;
        // Check the limits before building anything large.
        let nodes = shape.hcas + shape.switches();
        if nodes > MAX_NODES || shape.switches() > MAX_SWITCHES {
            return Err(Error::Topology(format!(
                "{shape:?} needs {nodes} nodes / {} switches (ibsim: {MAX_NODES} / {MAX_SWITCHES})",
                shape.switches()
            )));
        }
        let mut t = Topology::new();
        let hcas = t.add_hcas(shape.hcas)?;
        let lw = digits(shape.leaves).max(2);
        let sw = digits(spines).max(2);
        let mut leaves = Vec::with_capacity(shape.leaves);
        for (j, chunk) in hcas.chunks(k).enumerate() {
            let l = t.add_switch(&format!("L{:0lw$}", j + 1), leaf_radix)?;
            for (p, &h) in chunk.iter().enumerate() {
                t.link(l, port_num(p + 1)?, h, 1, LinkOptions::new())?;
            }
            leaves.push(l);
        }
        for i in 0..spines {
            let s = t.add_switch(&format!("S{:0sw$}", i + 1), spine_radix)?;
            for (j, &l) in leaves.iter().enumerate() {
                t.link(l, port_num(k + i + 1)?, s, port_num(j + 1)?, LinkOptions::new())?;
            }
        }
        t.check_limits()?;
        Ok(t)
    }

    fn add_hcas(&mut self, n: usize) -> Result<Vec<NodeId>> {
        if n > MAX_NODES {
            return Err(Error::Topology(format!("{n} HCAs exceed ibsim's {MAX_NODES} nodes")));
        }
        let w = digits(n).max(4);
        (1..=n).map(|i| self.add_hca(&format!("H{i:0w$}"), 1)).collect()
    }

    /// Parses a topology spec as the CLI takes it: `star:N`, `fat-tree:N` (or `fat_tree:N`), or the path
    /// of a netfile.
    pub fn from_spec(spec: &str) -> Result<Self> {
        let count = |s: &str| {
            s.trim().parse::<usize>().map_err(|_| Error::InvalidArgument(format!("bad count in {spec:?}")))
        };
        if let Some(n) = spec.strip_prefix("star:") {
            Self::star(count(n)?)
        } else if let Some(n) = spec.strip_prefix("fat-tree:").or_else(|| spec.strip_prefix("fat_tree:")) {
            Self::fat_tree(count(n)?)
        } else {
            Self::from_file(spec)
        }
    }

    /// Reads an ibsim netfile. The node list and links are parsed (headers, `[port] "peer"[port]`
    /// lines and `w=`/`s=`/`e=` options); the fabric then runs ibsim on the file itself, so `include`,
    /// `do`, aliases and ibnetdiscover annotations keep working even though they are not modelled here.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(path.to_path_buf())
            } else {
                Error::io(format!("reading {}", path.display()), e)
            }
        })?;
        let mut t = Self::parse_netfile(&text)?;
        t.source =
            Some(path.canonicalize().map_err(|e| Error::io(format!("resolving {}", path.display()), e))?);
        Ok(t)
    }

    /// Parses netfile text (see [`from_file`](Topology::from_file)).
    pub fn parse_netfile(text: &str) -> Result<Self> {
        let mut t = Topology::new();
        // (local node, local port, remote name, remote port, options), resolved after all nodes are known.
        let mut pending: Vec<(NodeId, u8, String, u8, LinkOptions)> = Vec::new();
        let mut current: Option<NodeId> = None;
        for (lineno, line) in text.lines().enumerate() {
            let err = |msg: &str| Error::Topology(format!("line {}: {msg}: {line:?}", lineno + 1));
            if line.starts_with('#') {
                continue;
            }
            let kind = if line.starts_with("Switch") {
                Some(NodeKind::Switch)
            } else if line.starts_with("Hca") || line.starts_with("Ca") {
                Some(NodeKind::Hca)
            } else if line.starts_with("Rt") {
                Some(NodeKind::Router)
            } else {
                None
            };
            if let Some(kind) = kind {
                let ports: u8 = line
                    .trim_start_matches(|c: char| !c.is_ascii_digit())
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| err("bad port count"))?;
                let name = quoted(line).ok_or_else(|| err("no quoted node name"))?;
                current = Some(t.add_node(name, kind, ports).map_err(|e| err(&e.to_string()))?);
                continue;
            }
            if let Some(port_line) = line.strip_prefix('[') {
                let Some(node) = current else { return Err(err("port line outside a node record")) };
                let local: u8 = port_line
                    .split(']')
                    .next()
                    .and_then(|d| d.trim().parse().ok())
                    .ok_or_else(|| err("bad local port"))?;
                let remote = quoted(line).ok_or_else(|| err("no quoted remote name"))?.to_string();
                // After the closing quote: optional "[port]", then options and comments.
                let after = line.splitn(3, '"').nth(2).unwrap_or("");
                let (rport, rest) = match after.strip_prefix('[') {
                    Some(r) => {
                        let (num, rest) = r.split_once(']').ok_or_else(|| err("bad remote port"))?;
                        (num.trim().parse().map_err(|_| err("bad remote port"))?, rest)
                    }
                    None => (1, after),
                };
                let rest = rest.split('#').next().unwrap_or("");
                let mut opts = LinkOptions::new();
                for tok in rest.split_whitespace() {
                    let Some((k, v)) = tok.split_once('=') else { continue };
                    let v: u8 = parse_int(v).ok_or_else(|| err("bad option value"))?;
                    match k {
                        "w" => opts.width_mask = Some(v),
                        "s" => opts.speed_mask = Some(v),
                        "e" => opts.ext_speed_mask = Some(v),
                        _ => {}
                    }
                }
                opts.validate().map_err(|e| err(&e.to_string()))?;
                pending.push((node, local, remote, rport, opts));
                continue;
            }
            // Anything else ends a record (blank line, include, do, guid settings...).
            if !line.starts_with('@') {
                current = None;
            }
        }
        // Every link appears on both ends; the second one must agree with the first.
        for (node, port, remote, rport, opts) in pending {
            let name = t.node(node).name.clone();
            let rid = t
                .id(&remote)
                .ok_or_else(|| Error::Topology(format!("{name}[{port}] links to unknown node {remote:?}")))?;
            match t.peer(node, port) {
                Some(p) if p == (rid, rport) => continue,
                Some(_) => {
                    return Err(Error::Topology(format!("{name}[{port}] listed with two different peers")));
                }
                None => t.link(node, port, rid, rport, opts)?,
            }
        }
        t.check_limits()?;
        Ok(t)
    }

    /// Checks ibsim's default limits on nodes, switches and ports.
    pub fn check_limits(&self) -> Result<()> {
        let switches = self.nodes.iter().filter(|n| n.kind == NodeKind::Switch).count();
        let ports: usize =
            self.nodes.iter().map(|n| usize::from(n.ports) + usize::from(n.kind == NodeKind::Switch)).sum();
        if self.nodes.len() > MAX_NODES {
            return Err(Error::Topology(format!("{} nodes exceed ibsim's {MAX_NODES}", self.nodes.len())));
        }
        if switches > MAX_SWITCHES {
            return Err(Error::Topology(format!("{switches} switches exceed ibsim's {MAX_SWITCHES}")));
        }
        if ports > MAX_PORTS {
            return Err(Error::Topology(format!("{ports} ports exceed ibsim's {MAX_PORTS}")));
        }
        Ok(())
    }

    /// The topology as an ibsim netfile. Switches come first (the first node of the file is where a
    /// client without `SIM_HOST` attaches, so that default never lands on an HCA by accident).
    pub fn to_netfile(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# ibsim netfile written by localsa-testbed: {} nodes ({} HCAs, {} switches), {} links",
            self.nodes.len(),
            self.nodes.iter().filter(|n| n.kind == NodeKind::Hca).count(),
            self.nodes.iter().filter(|n| n.kind == NodeKind::Switch).count(),
            self.links.len()
        );
        // Per node: port -> (peer, peer port, options).
        let mut ports: Vec<BTreeMap<u8, (NodeId, u8, LinkOptions)>> = vec![BTreeMap::new(); self.nodes.len()];
        for l in &self.links {
            ports[l.a.0 .0].insert(l.a.1, (l.b.0, l.b.1, l.options));
            ports[l.b.0 .0].insert(l.b.1, (l.a.0, l.a.1, l.options));
        }
        let order = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.kind == NodeKind::Switch)
            .chain(self.nodes.iter().enumerate().filter(|(_, n)| n.kind != NodeKind::Switch));
        for (i, node) in order {
            let _ = writeln!(out, "\n{}\t{} \"{}\"", node.kind.keyword(), node.ports, node.name);
            for (port, (peer, pport, opts)) in &ports[i] {
                let _ = write!(out, "[{port}]\t\"{}\"[{pport}]", self.nodes[peer.0].name);
                opts.write_netfile(&mut out);
                out.push('\n');
            }
        }
        out
    }

    /// Writes [`to_netfile`](Topology::to_netfile) to `path`.
    pub fn write_netfile(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_netfile())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }
}

fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(Error::Topology(format!("node name {name:?} must have 1..={MAX_NAME_LEN} bytes")));
    }
    if name.contains(['"', '#', '@', '\n', '\r', '[', ']']) {
        return Err(Error::Topology(format!("node name {name:?} contains one of \" # @ [ ] or a newline")));
    }
    Ok(())
}

fn quoted(line: &str) -> Option<&str> {
    let mut it = line.splitn(3, '"');
    it.next()?;
    let name = it.next()?;
    it.next()?; // the closing quote must exist
    Some(name)
}

fn parse_int(s: &str) -> Option<u8> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u8::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

fn digits(n: usize) -> usize {
    n.max(1).ilog10() as usize + 1
}

fn port_num(p: usize) -> Result<u8> {
    u8::try_from(p).map_err(|_| Error::Topology(format!("port {p} above 255")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn degree(t: &Topology, name: &str) -> usize {
        let id = t.id(name).unwrap();
        (1..=t.node(id).ports).filter(|&p| t.peer(id, p).is_some()).count()
    }

    #[test]
    fn star_small_is_one_switch() {
        let t = Topology::star(4).unwrap();
        assert_eq!(t.switches(), ["S01"]);
        assert_eq!(t.hcas(), ["H0001", "H0002", "H0003", "H0004"]);
        assert_eq!(t.links().len(), 4);
        assert_eq!(degree(&t, "S01"), 4);
    }

    #[test]
    fn star_large_is_a_shallow_tree() {
        for n in [36, 37, 100, 1260, 1261, 1985] {
            let t = Topology::star(n).unwrap();
            assert_eq!(t.hcas().len(), n);
            // A tree: links = nodes - 1.
            assert_eq!(t.links().len(), t.nodes().len() - 1, "n={n}");
            for s in t.switches() {
                assert!(degree(&t, &s) <= 36, "{s} of star({n})");
            }
            assert!(t.check_limits().is_ok());
        }
        assert!(Topology::star(2048).is_err());
    }

    #[test]
    fn fat_tree_shapes() {
        let cases = [(16, 8, 8, 2), (64, 18, 18, 4), (128, 18, 18, 8), (512, 18, 18, 29), (1024, 29, 7, 36)];
        for (n, k, s, l) in cases {
            let shape = FatTreeShape::auto(n, 36).unwrap();
            assert_eq!((shape.down_ports, shape.spines, shape.leaves), (k, s, l), "n={n}");
            let t = Topology::fat_tree(n).unwrap();
            assert_eq!(t.hcas().len(), n);
            assert_eq!(t.switches().len(), l + usize::from(s));
            assert_eq!(t.links().len(), n + l * usize::from(s));
            for name in t.switches() {
                assert!(degree(&t, &name) <= 36, "{name} of fat_tree({n})");
            }
        }
        let t = Topology::fat_tree(16).unwrap();
        assert_eq!(t.switches(), ["L01", "L02", "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08"]);
        assert_eq!(t.hcas()[0], "H0001");
        assert_eq!(t.hcas()[15], "H0016");
        // Every size up to the maximum builds and stays within limits.
        for n in (1..=1260).step_by(37).chain([1, 2, 3, 648, 649, 1259, 1260]) {
            Topology::fat_tree(n).unwrap_or_else(|e| panic!("fat_tree({n}): {e}"));
        }
        assert!(Topology::fat_tree(1261).is_err());
        assert!(Topology::fat_tree(0).is_err());
    }

    #[test]
    fn netfile_round_trip() {
        let mut t = Topology::fat_tree(16).unwrap();
        t.set_link_options("H0003", 1, LinkOptions::new().width(LinkWidth::X1).speed(LinkSpeed::Qdr))
            .unwrap();
        let text = t.to_netfile();
        assert!(text.contains("Switch\t36 \"L01\"\n[1]\t\"H0001\"[1]\n"), "{text}");
        assert!(text.contains("[3]\t\"H0003\"[1]\tw=1\ts=4\n"), "{text}");
        assert!(text.contains("Hca\t1 \"H0003\"\n[1]\t\"L01\"[3]\tw=1\ts=4\n"), "{text}");
        let back = Topology::parse_netfile(&text).unwrap();
        assert_eq!(back.nodes().len(), t.nodes().len());
        assert_eq!(back.links().len(), t.links().len());
        assert_eq!(back.to_netfile(), text);
    }

    #[test]
    fn parses_ibsim_examples() {
        let text = "# c\nSwitch\t8 \"Switch1\"\n[1]\t\"Hca1\"[1]\n[2]\t\"Hca2\"[2]\tw=12\n\n\
                    Hca\t2 \"Hca1\"\n[1]\t\"Switch1\"[1]\n\nHca\t2 \"Hca2\"\n[2]\t\"Switch1\"[2]\tw=12\n";
        let t = Topology::parse_netfile(text).unwrap();
        assert_eq!(t.node_names(), ["Switch1", "Hca1", "Hca2"]);
        assert_eq!(t.hcas(), ["Hca1", "Hca2"]);
        assert_eq!(t.links().len(), 2);
        assert_eq!(t.links()[1].options.width_mask, Some(12));
    }

    #[test]
    fn rejects_bad_input() {
        let mut t = Topology::new();
        let s = t.add_switch("S", 2).unwrap();
        let h = t.add_hca("H", 1).unwrap();
        assert!(t.add_hca("H", 1).is_err());
        assert!(t.add_hca("a\"b", 1).is_err());
        assert!(t.link(s, 3, h, 1, LinkOptions::new()).is_err());
        t.link(s, 1, h, 1, LinkOptions::new()).unwrap();
        assert!(t.link(s, 2, h, 1, LinkOptions::new()).is_err());
        let bad = LinkOptions { width_mask: Some(32), ..LinkOptions::new() };
        assert!(t.set_link_options("S", 1, bad).is_err());
        assert!(Topology::parse_netfile("Hca 1 \"A\"\n[1] \"B\"[1]\n").is_err());
        assert!(Topology::from_spec("star:x").is_err());
    }
}
